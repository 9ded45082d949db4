package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cairnml/cairn/ui/core"
)

// /metrics is served with Read access when Options.Metrics is set: a
// viewer gets the exposition, no credentials a plain-text 401 that says
// how to scrape, a forbidden caller a 403; it is listed among the
// routes (the route × role test walks them). Without Metrics there is
// no such route.
func TestMetricsRoute(t *testing.T) {
	exposition := "# HELP cairn_x x\n# TYPE cairn_x gauge\ncairn_x 1\n"
	var asked []core.Access
	f := newFixture(t, func(o *Options) {
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			fmt.Fprint(w, exposition)
		})
		o.Authorize = func(r *http.Request, need core.Access) (*http.Request, error) {
			asked = append(asked, need)
			switch r.Header.Get("Authorization") {
			case "Bearer viewer":
				return r, nil
			case "Bearer revoked":
				return nil, fmt.Errorf("token revoked: %w", ErrForbidden)
			}
			return nil, ErrUnauthenticated
		}
	})
	if !slices.Contains(f.h.Routes(), Route{Method: http.MethodGet, Path: MetricsPath, Access: core.Read}) {
		t.Errorf("routes %v lack GET /metrics with read access", f.h.Routes())
	}
	resp, body := f.get(t, "/metrics")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(body, "viewer token") {
		t.Errorf("no token: %s %q %q %q, want a plain-text 401 naming the viewer token", resp.Status,
			resp.Header.Get("Content-Type"), resp.Header.Get("WWW-Authenticate"), body)
	}
	resp, body = f.get(t, "/metrics", "Authorization", "Bearer revoked")
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "<html") {
		t.Errorf("forbidden: %s %q, want a plain-text 403", resp.Status, body)
	}
	resp, body = f.get(t, "/metrics", "Authorization", "Bearer viewer")
	if resp.StatusCode != http.StatusOK || body != exposition || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("viewer: %s %q %q, want the exposition", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if !slices.Equal(asked, []core.Access{core.Read, core.Read, core.Read}) {
		t.Errorf("Authorize asked for %v, want read access each time", asked)
	}

	bare := newFixture(t)
	if resp, _ := bare.get(t, "/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("without Options.Metrics: GET /metrics answered %s, want 404", resp.Status)
	}
	for _, rt := range bare.h.Routes() {
		if rt.Path == MetricsPath {
			t.Errorf("without Options.Metrics the routes list %v", rt)
		}
	}
}

// A request that fails with a 500 is logged with the run and task its
// path names, as attributes (text or JSON logs alike).
func TestFailureLogNamesRunAndTask(t *testing.T) {
	var buf syncBuffer
	f := newFixture(t, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	})
	f.st.Close() // every read now fails: a 500
	resp, _ := f.get(t, "/api/v1/runs/abcdabcd/tasks/train/attempts")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("GET with the store closed: %s, want 500", resp.Status)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(buf.String(), "\n", 2)[0]), &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if line["msg"] != "ui: request failed" || line["run"] != "abcdabcd" || line["task"] != "train" || line["err"] == nil {
		t.Errorf("log line %v, want the failure with run abcdabcd and task train as attributes", line)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
