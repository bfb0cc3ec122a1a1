package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"
)

// newHTTPServer builds the HTTP port: /healthz (the process is up), /readyz (the
// gRPC service is SERVING), /metrics, /debug/pprof/ when -pprof is set, and the web
// inspector under /ui/ unless -ui=false.
func (s *Server) newHTTPServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.Handler())
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if s.cfg.UI {
		s.registerInspector(mux)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}
