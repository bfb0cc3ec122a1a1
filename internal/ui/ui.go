// Package ui holds the web inspector's static assets (HTML, CSS, JavaScript), embedded
// in the binary so that the inspector works offline, without a build step or a CDN.
// miner-server serves them under /ui/ on its HTTP port, beside the JSON API the pages
// call (cmd/miner-server/inspector.go).
package ui

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Assets returns the inspector's files: index.html, app.js and style.css at the root.
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always holds static/
	}
	return sub
}
