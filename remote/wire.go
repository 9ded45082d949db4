package remote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
)

// The worker API's wire: JSON bodies under Prefix, every request and
// answer carrying HeaderProtocol. docs/api.md documents it.

// Prefix is where the worker API is served, on the server's listener.
const Prefix = "/api/v1/worker/"

// Headers of the worker API.
const (
	// HeaderProtocol carries the worker protocol version
	// (cairn.WorkerProtocol) on every request and every answer.
	HeaderProtocol = "Cairn-Worker-Protocol"
	// HeaderWorker carries the worker's id (issued at registration) on
	// every request but the registration.
	HeaderWorker = "Cairn-Worker-Id"
	// HeaderLeaseToken carries the lease token of a log stream.
	HeaderLeaseToken = "Cairn-Lease-Token"
)

// Error codes of the worker API's answers ({"code", "message"}).
const (
	CodeProtocol     = "protocol_mismatch" // 400: the two sides speak different versions
	CodeBadInput     = "bad_input"         // 400
	CodeUnauthorized = "unauthenticated"   // 401: no token, or not a valid one
	CodeForbidden    = "forbidden"         // 403: not a worker token; another worker's lease or registration
	CodeNotFound     = "not_found"         // 404
	CodeLeaseLost    = "lease_lost"        // 409: the lease expired, was superseded or its task ended
	CodeWorkerLost   = "worker_lost"       // 410: the worker is lost or stopped: register again
	CodeDigest       = "digest_mismatch"   // 422: an upload's bytes do not hash to its digest
	CodeNotStored    = "not_stored"        // 422: a completion names an artifact output never uploaded
	CodeInternal     = "internal"          // 500
)

// apiError is the body of every refusal.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Protocols are the versions the answering side speaks, with
	// CodeProtocol.
	Protocols []int `json:"protocols,omitempty"`
}

type registerRequest struct {
	Name    string            `json:"name"`
	Host    string            `json:"host"`
	Version string            `json:"version"`
	Labels  map[string]string `json:"labels,omitempty"`
	Queues  []string          `json:"queues,omitempty"`
	// Types are the task types the worker can run, sorted (the built-in
	// ones and its plugins'); absent (a worker of an earlier version):
	// any type, handed back if it lacks one.
	Types       []string `json:"types,omitempty"`
	Concurrency int      `json:"concurrency"`
}

type registerReply struct {
	WorkerID string `json:"worker_id"`
	// LeaseTTLMillis is how long a lease (and the worker's registration)
	// lives without a call; HeartbeatMillis how often the worker calls at
	// least; MaxWaitMillis the longest a lease request waits for work.
	LeaseTTLMillis  int64  `json:"lease_ttl_ms"`
	HeartbeatMillis int64  `json:"heartbeat_ms"`
	MaxWaitMillis   int64  `json:"max_wait_ms"`
	ServerVersion   string `json:"server_version"`
	Protocol        int    `json:"protocol"`
	// CompleteLanes is how many completion requests the worker may have
	// on their way at once (absent: one); see ServerOptions.CompleteLanes.
	CompleteLanes int `json:"complete_lanes,omitempty"`
	// GiveBack says the server takes leases back unrun (POST give-back):
	// only then does a worker lease ahead of its free slots (absent: a
	// server of an earlier version, which a worker never leases ahead
	// of).
	GiveBack bool `json:"give_back,omitempty"`
}

// wireLease is a lease on the wire.
type wireLease struct {
	RunID     string    `json:"run_id"`
	TaskID    string    `json:"task_id"`
	Attempt   int       `json:"attempt"`
	Token     string    `json:"token"`
	Worker    string    `json:"worker"`
	ExpiresAt time.Time `json:"expires_at"`
}

func toWireLease(l cairn.Lease) wireLease {
	return wireLease{RunID: l.RunID, TaskID: l.TaskID, Attempt: l.Attempt, Token: l.Token, Worker: l.Worker, ExpiresAt: l.ExpiresAt}
}

func (l wireLease) lease() cairn.Lease {
	return cairn.Lease{RunID: l.RunID, TaskID: l.TaskID, Attempt: l.Attempt, Token: l.Token, Worker: l.Worker, ExpiresAt: l.ExpiresAt}
}

type leaseRequest struct {
	Max        int   `json:"max"`
	WaitMillis int64 `json:"wait_ms"`
	Start      bool  `json:"start"`
}

// wireItem is a work item on the wire: what the worker needs to run the
// attempt (the retry policy and counts stay with the server, which
// decides what follows).
type wireItem struct {
	Lease         wireLease                    `json:"lease"`
	Type          string                       `json:"type"`
	Params        json.RawMessage              `json:"params"`
	Inputs        map[string]cairn.ArtifactRef `json:"inputs,omitempty"`
	TimeoutMillis int64                        `json:"timeout_ms,omitempty"`
	Started       bool                         `json:"started"`
	Cache         bool                         `json:"cache,omitempty"`
	// Secrets are the values of the run's secret params filled into
	// Params, by placeholder: the worker takes them out again of what it
	// derives from the params (the cache key) and of what it reports,
	// as the server does; never written.
	Secrets map[string]string `json:"secrets,omitempty"`
}

func toWireItem(it cairn.WorkItem, secrets map[string]string) wireItem {
	return wireItem{Lease: toWireLease(it.Lease), Type: it.Type, Params: it.Params, Inputs: it.Inputs,
		TimeoutMillis: it.Timeout.Milliseconds(), Started: it.Started, Cache: it.Cache, Secrets: secrets}
}

func (w wireItem) item() cairn.WorkItem {
	return cairn.WorkItem{Lease: w.Lease.lease(), Type: w.Type, Params: w.Params, Inputs: w.Inputs,
		Timeout: time.Duration(w.TimeoutMillis) * time.Millisecond, Started: w.Started, Cache: w.Cache}
}

type itemsReply struct {
	Items []wireItem `json:"items"`
}

type startRequest struct {
	Lease wireLease `json:"lease"`
}

type heartbeatRequest struct {
	Leases []wireLease `json:"leases"`
}

// heartbeatResult is one lease's answer: renewed (ExpiresAt, and whether
// its run is being cancelled), or refused with Code (lease_lost,
// forbidden) and Error.
type heartbeatResult struct {
	ExpiresAt       time.Time `json:"expires_at,omitzero"`
	CancelRequested bool      `json:"cancel_requested,omitempty"`
	Code            string    `json:"code,omitempty"`
	Error           string    `json:"error,omitempty"`
}

type heartbeatReply struct {
	Results []heartbeatResult `json:"results"`
}

// giveBackRequest hands back leases whose attempts never began (items a
// worker leased ahead of a free slot).
type giveBackRequest struct {
	Leases []wireLease `json:"leases"`
}

// giveBackResult is one lease's answer: given back (no Code: its task is
// ready again, no attempt counted), or not with Code (lease_lost: no
// longer held, nothing changed; forbidden: another worker's; internal)
// and Error.
type giveBackResult struct {
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

type giveBackReply struct {
	Results []giveBackResult `json:"results"`
}

// wireCompletion is how an attempt ended, as the worker reports it; the
// server decides the task's next state.
type wireCompletion struct {
	Error      string                        `json:"error,omitempty"`
	Stack      string                        `json:"stack,omitempty"`
	ExitCode   *int                          `json:"exit_code,omitempty"`
	Retryable  bool                          `json:"retryable,omitempty"`
	Requeue    bool                          `json:"requeue,omitempty"`
	Outputs    boundedMap[json.RawMessage]   `json:"outputs,omitempty"`
	Metrics    boundedMap[float64]           `json:"metrics,omitempty"`
	Plugin     *cairn.PluginRef              `json:"plugin,omitempty"`
	Version    string                        `json:"version,omitempty"`
	CacheKey   string                        `json:"cache_key,omitempty"`
	CacheSrc   string                        `json:"cache_source,omitempty"`
	CachedFrom *cairn.AttemptRef             `json:"cached_from,omitempty"`
	Effects    boundedList[cairn.Effect]     `json:"effects,omitempty"`
	ReadInputs boundedMap[cairn.ArtifactRef] `json:"read_inputs,omitempty"`
}

// A completion's maps and lists are bounded as they are decoded, before
// any of it is checked against the lease: at most maxEntries entries
// each, keys of at most maxKeyBytes, so that a body cannot make the
// server build maps many times its size.
const (
	maxEntries  = 10000
	maxKeyBytes = 1024
)

// boundedMap is a JSON object of at most maxEntries keys, each of at most
// maxKeyBytes, decoded one entry at a time.
type boundedMap[V any] map[string]V

// opened is a decoder of b past its opening delim, nil for a JSON null.
func opened(b []byte, delim json.Delim) (*json.Decoder, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	switch {
	case err != nil:
		return nil, err
	case tok == nil:
		return nil, nil
	case tok != delim:
		return nil, fmt.Errorf("want %v, not %v", delim, tok)
	}
	return dec, nil
}

func (m *boundedMap[V]) UnmarshalJSON(b []byte) error {
	dec, err := opened(b, '{')
	if dec == nil {
		*m = nil
		return err
	}
	out := boundedMap[V]{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k := tok.(string) // an object's keys are strings
		if len(k) > maxKeyBytes {
			return fmt.Errorf("a key of %d bytes: at most %d", len(k), maxKeyBytes)
		}
		if len(out) == maxEntries {
			return fmt.Errorf("more than %d entries", maxEntries)
		}
		var v V
		if err := dec.Decode(&v); err != nil {
			return err
		}
		out[k] = v
	}
	*m = out
	return nil
}

// boundedList is a JSON array of at most maxEntries items.
type boundedList[V any] []V

func (l *boundedList[V]) UnmarshalJSON(b []byte) error {
	dec, err := opened(b, '[')
	if dec == nil {
		*l = nil
		return err
	}
	var out boundedList[V]
	for dec.More() {
		if len(out) == maxEntries {
			return fmt.Errorf("more than %d items", maxEntries)
		}
		var v V
		if err := dec.Decode(&v); err != nil {
			return err
		}
		out = append(out, v)
	}
	*l = out
	return nil
}

func toWireCompletion(c cairn.Completion) wireCompletion {
	w := wireCompletion{Error: c.Error, Stack: c.Stack, ExitCode: c.ExitCode, Retryable: c.Retryable, Requeue: c.Requeue,
		Outputs: c.Outputs, Metrics: c.Metrics, Plugin: c.Plugin, Version: c.Version, CacheKey: c.CacheKey, CacheSrc: c.CacheSource,
		Effects: c.Effects, ReadInputs: c.ReadInputs}
	if !c.CachedFrom.IsZero() {
		ref := c.CachedFrom
		w.CachedFrom = &ref
	}
	return w
}

func (w wireCompletion) completion() cairn.Completion {
	c := cairn.Completion{Error: w.Error, Stack: w.Stack, ExitCode: w.ExitCode, Retryable: w.Retryable, Requeue: w.Requeue,
		Outputs: w.Outputs, Metrics: w.Metrics, Plugin: w.Plugin, Version: w.Version, CacheKey: w.CacheKey, CacheSource: w.CacheSrc,
		Effects: w.Effects, ReadInputs: w.ReadInputs}
	if w.CachedFrom != nil {
		c.CachedFrom = *w.CachedFrom
	}
	return c
}

type completeRequest struct {
	Lease      wireLease      `json:"lease"`
	Completion wireCompletion `json:"completion"`
	// Next asks, in the same round trip, for up to this many more work
	// items (without waiting); 0 for none.
	Next  int  `json:"next,omitempty"`
	Start bool `json:"start,omitempty"`
}

// completeManyRequest is several completions of one worker's slots in
// one round trip (POST complete-many), each as completeRequest.
type completeManyRequest struct {
	Reports []completeRequest `json:"reports"`
}

// completeResult is one report's answer: the items leased for it, or
// its refusal (Code lease_lost, forbidden, internal) with Error.
type completeResult struct {
	Items []wireItem `json:"items,omitempty"`
	Code  string     `json:"code,omitempty"`
	Error string     `json:"error,omitempty"`
}

type completeManyReply struct {
	Results []completeResult `json:"results"`
}

type cachedReply struct {
	Hits []wireCached `json:"hits"`
}

type wireCached struct {
	Attempt cairn.AttemptRef           `json:"attempt"`
	Type    string                     `json:"type,omitempty"`
	Outputs map[string]json.RawMessage `json:"outputs,omitempty"`
	Metrics map[string]float64         `json:"metrics,omitempty"`
}
