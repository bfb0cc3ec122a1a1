// Package ui holds the web inspector's static assets (HTML, CSS, JavaScript), embedded
// in the binary so that the inspector works offline, without a build step or a CDN.
// miner-server serves them under /ui/ on its HTTP port, beside the JSON API the pages
// call (cmd/miner-server/inspector.go).
package ui
