package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"

	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/sqlite"
)

// envDebugAddr names a loopback address where cairn server serves what
// diagnosing its performance needs, and nothing else: Go's profiles
// (/debug/pprof/) and its round trips counted (/debug/counts: the
// statements it ran on a PostgreSQL database, by kind, the writer's
// statements and transactions on a SQLite one, and the worker API's
// requests, by route), and the candidate's own work in shadow
// scoring alone (POST /debug/shadow-eval, see serveShadowEval). No flag:
// it is for whoever measures the server (the benchmarks), not for running
// it.
const envDebugAddr = "CAIRN_DEBUG_ADDR"

// debugCounts is the body of /debug/counts.
type debugCounts struct {
	// Statements by kind, PostgreSQL only.
	Statements []postgres.StatementCount `json:"statements,omitempty"`
	// WorkerCalls: the worker API's requests by route.
	WorkerCalls map[string]int64 `json:"worker_calls"`
	// Writes: the writer's statements and transactions so far, SQLite
	// only (sqlite.Store.WriteStats).
	Writes *sqlite.WriteStats `json:"writes,omitempty"`
}

// writeStats are st's writer's counts, when it is a SQLite store.
func writeStats(st database) *sqlite.WriteStats {
	if s, ok := st.(*sqlite.Store); ok {
		w := s.WriteStats()
		return &w
	}
	return nil
}

// statementCounts are the statements st ran by kind, when it counts them
// (a PostgreSQL store opened with postgres.WithStatementCounts).
func statementCounts(st database) []postgres.StatementCount {
	if pg, ok := st.(*postgres.Store); ok {
		return pg.StatementCounts()
	}
	return nil
}

// listenDebug listens on CAIRN_DEBUG_ADDR, a loopback address; nil when
// it is not set.
func listenDebug() (net.Listener, error) {
	addr := os.Getenv(envDebugAddr)
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s=%s: %w", envDebugAddr, addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%s=%s listens on %s, which is not a loopback address: give a loopback IP such as 127.0.0.1",
			envDebugAddr, addr, ln.Addr())
	}
	return ln, nil
}

// candidateEvaluator is what /debug/shadow-eval calls (*serve.Server).
type candidateEvaluator interface {
	EvaluateCandidate(name string, bodies [][]byte, n int) error
}

// maxShadowEvals bounds /debug/shadow-eval's n.
const maxShadowEvals = 1_000_000

// serveShadowEval answers POST /debug/shadow-eval?model=NAME&n=N, whose
// body is a JSON array of predict bodies: the candidate of model NAME's
// rollout does its own work of shadow scoring (its predictions, and its
// decoding when it reads other columns than production; nothing logged
// or counted) on N of them in turn, in this
// process, so that a benchmark reading the server's CPU around the call
// has that work apart from the rest of what shadow scoring costs a
// request (bench's BenchmarkShadowHTTP). The answer is {"evaluated": N}.
func serveShadowEval(models candidateEvaluator) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("model")
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 || n > maxShadowEvals {
			http.Error(w, fmt.Sprintf("n=%q: want a number of evaluations from 1 to %d", r.URL.Query().Get("n"), maxShadowEvals), http.StatusBadRequest)
			return
		}
		var bodies []json.RawMessage
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20)).Decode(&bodies); err != nil {
			http.Error(w, fmt.Sprintf("the body is not a JSON array of predict bodies: %v", err), http.StatusBadRequest)
			return
		}
		if len(bodies) == 0 {
			http.Error(w, "the body is an empty array: give at least one predict body", http.StatusBadRequest)
			return
		}
		bs := make([][]byte, len(bodies))
		for i, b := range bodies {
			bs[i] = b
		}
		if err := models.EvaluateCandidate(name, bs, n); err != nil {
			http.Error(w, fmt.Sprintf("evaluate: %v", err), http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"evaluated\": %d}\n", n)
	}
}

// serveDebug serves the profiles, the counts and the shadow evaluations
// of models on ln (nil: does nothing) until stop is called.
func serveDebug(ln net.Listener, counts func() debugCounts, models candidateEvaluator, base context.Context, log *slog.Logger) (stop func(context.Context)) {
	if ln == nil {
		return func(context.Context) {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/counts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(counts())
	})
	mux.HandleFunc("POST /debug/shadow-eval", serveShadowEval(models))
	// Profiles take as long as they are asked to: no write timeout.
	srv := newHTTPServer(mux, base, log, idleTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve "+envDebugAddr, "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("debug listener", "addr", "http://"+ln.Addr().String())
	return func(ctx context.Context) {
		srv.Shutdown(ctx)
		<-done
	}
}
