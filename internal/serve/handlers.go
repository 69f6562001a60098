package serve

import (
	"fmt"
	"net/http"

	"github.com/gridprobe/gridprobe/internal/metrics"
)

// Handler serves /, /metrics, /probe and /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(s.reg, s.snapshot, s.rounds))
	mux.HandleFunc("GET /probe", s.handleProbe)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /{$}", s.handleStatus)
	return mux
}

// handleHealth answers 200 once a config is loaded (always, after New):
// the process is up and scheduling. Site failures are not its business.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	n, loaded := len(s.order), s.loaded
	s.mu.RUnlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "ok: %d services configured, config loaded %s\n", n, loaded.UTC().Format("2006-01-02T15:04:05Z"))
}
