package main

import (
	"errors"
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
		// Not /debug/pprof/cmdline: the command line can hold -auth-tokens. With
		// authentication on, the profiles need a write token.
		mux.HandleFunc("/debug/pprof/", s.pprofAuth(pprof.Index))
		mux.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "not served: the command line can hold secrets", http.StatusNotFound)
		})
		mux.HandleFunc("/debug/pprof/profile", s.pprofAuth(pprof.Profile))
		mux.HandleFunc("/debug/pprof/symbol", s.pprofAuth(pprof.Symbol))
		mux.HandleFunc("/debug/pprof/trace", s.pprofAuth(pprof.Trace))
	}
	if s.cfg.UI {
		s.registerInspector(mux)
	}
	// No write timeout: a CPU profile streams for as long as it was asked to run.
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
}

// pprofAuth serves h to a write token when authentication is on (profiles show the
// server's internals and can slow it down), to anyone otherwise.
func (s *Server) pprofAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.authorizeHTTP(r, "/debug/pprof"); err != nil {
			code := http.StatusUnauthorized
			if errors.Is(err, errPermissionDenied) {
				code = http.StatusForbidden
			} else {
				w.Header().Set("WWW-Authenticate", bearerChallenge)
			}
			http.Error(w, err.Error(), code)
			return
		}
		h(w, r)
	}
}
