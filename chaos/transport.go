package chaos

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
)

// FaultTransport is an http.RoundTripper around another that loses
// requests before they are sent and answers after the server handled them
// (the worker API's ambiguous calls: the lease was granted, the completion
// recorded, and the worker hears an error), and cuts the network off
// altogether (SetDown).
type FaultTransport struct {
	next          http.RoundTripper
	before, after float64
	mu            sync.Mutex
	rng           *rand.Rand
	down          atomic.Bool
	lost, dropped atomic.Int64
}

// NewFaultTransport wraps next: before and after are the probabilities
// that a request is lost before it is sent, and that its answer is lost
// once the server handled it, drawn from seed.
func NewFaultTransport(next http.RoundTripper, seed uint64, before, after float64) *FaultTransport {
	return &FaultTransport{next: next, before: before, after: after, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))}
}

// SetDown cuts the network off (true) or restores it.
func (f *FaultTransport) SetDown(down bool) { f.down.Store(down) }

// Lost counts the requests lost before they were sent; Dropped the
// answers lost after the server handled the request.
func (f *FaultTransport) Lost() int64    { return f.lost.Load() }
func (f *FaultTransport) Dropped() int64 { return f.dropped.Load() }

// RoundTrip implements http.RoundTripper.
func (f *FaultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.down.Load() {
		f.lost.Add(1)
		return nil, fmt.Errorf("%s %s: network unreachable (partition): %w", r.Method, r.URL.Path, ErrInjected)
	}
	f.mu.Lock()
	x := f.rng.Float64()
	f.mu.Unlock()
	if x < f.before {
		f.lost.Add(1)
		return nil, fmt.Errorf("%s %s: connection refused: %w", r.Method, r.URL.Path, ErrInjected)
	}
	resp, err := f.next.RoundTrip(r)
	if err != nil || x >= f.before+f.after {
		return resp, err
	}
	// The server handled it; the answer is lost.
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	f.dropped.Add(1)
	return nil, fmt.Errorf("%s %s: connection reset after the request was handled: %w", r.Method, r.URL.Path, ErrInjected)
}
