// Package metrics serves fanoutd's Prometheus metrics and JSON diagnostics on a loopback
// HTTP listener, with net/http/pprof when enabled.
//
// Every number is read at scrape time from the daemon's own state (bgp.Server.Peers,
// sched.Scheduler.Stats, the RIB's attribute tables and RibOuts, the Go runtime): nothing
// on the routing path updates a metric. Each Server has its own registry, so two daemons
// can share a process.
//
//	/metrics       Prometheus text format, metric names prefixed fanout_
//	/debug/fanout  one JSON document (Snapshot) with the same numbers
//	/debug/pprof/  net/http/pprof, only with Config.Pprof
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/sched"
)

// Config is the metrics server's settings.
type Config struct {
	Addr  netip.AddrPort // where to listen (fanout.http-address)
	Pprof bool           // mount net/http/pprof under /debug/pprof/
	// RibOutTimeout bounds the wait for the task that reads the RibOuts at each scrape;
	// 0 means DefaultRibOutTimeout.
	RibOutTimeout time.Duration
}

// DefaultRibOutTimeout bounds the RibOut read of one scrape.
const DefaultRibOutTimeout = 2 * time.Second

// Deps are the daemon parts the server reads. Any may be nil; its metrics are then absent.
type Deps struct {
	Logger    *zap.Logger
	Server    *bgp.Server
	RIB       *bgp.RIB
	Scheduler *sched.Scheduler
	// Instances, when set, returns the network instances' statuses for the JSON diagnostics
	// (the daemon passes netinst.Manager.Status); called at scrape time from any goroutine.
	Instances func() any
}

// Server is a running metrics listener. Owner: the daemon, which calls Close.
type Server struct {
	log  *zap.Logger
	src  *source
	reg  *prometheus.Registry
	lis  net.Listener
	http *http.Server
	done chan error // Serve's result
}

// Start listens on cfg.Addr and serves until Close.
func Start(cfg Config, deps Deps) (*Server, error) {
	s := newServer(cfg, deps)
	lis, err := net.Listen("tcp", cfg.Addr.String())
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s.lis = lis
	s.http = &http.Server{Handler: s.Handler(cfg.Pprof), ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan error, 1)
	go func() { s.done <- s.http.Serve(lis) }()
	return s, nil
}

func newServer(cfg Config, deps Deps) *Server {
	log := deps.Logger
	if log == nil {
		log = zap.NewNop()
	}
	timeout := cfg.RibOutTimeout
	if timeout <= 0 {
		timeout = DefaultRibOutTimeout
	}
	src := &source{srv: deps.Server, rib: deps.RIB, sched: deps.Scheduler, instances: deps.Instances, timeout: timeout}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(src))
	return &Server{log: log, src: src, reg: reg}
}

// Registry returns the server's registry (its own, not the global default).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Addr returns the listener's address.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Snapshot reads the diagnostics now.
func (s *Server) Snapshot() *Snapshot { return s.src.snapshot() }

// Handler returns the server's HTTP handler; withPprof mounts net/http/pprof.
func (s *Server) Handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(s.log)}))
	mux.HandleFunc("GET /debug/fanout", s.serveJSON)
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request) {
	b, err := json.MarshalIndent(s.src.snapshot(), "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// Close stops the listener and waits, within ctx, for scrapes in progress.
func (s *Server) Close(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
