package chaos

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// ProbeType is the task type name of the probe.
const ProbeType = "probe"

// Probe is the task type the scenarios run: each attempt appends a
// "start" record to a ledger file outside Cairn, naps, and appends a
// "done" record before it returns its outputs (the attempt number, a
// nonce of its own and the worker that ran it). The checker compares the
// ledger with what the store accepted: a success the store accepted must
// match a "done" record of the same run, task, attempt and nonce.
//
// The probe is a value, not a registration: cmd chaos/cairn-probe serves
// it as a plugin (a real subprocess, pinned by the lock file of the home
// or worker that runs it), and an in-process scenario puts one into its
// own task registry.
type Probe struct {
	// Worker names the process that runs the attempts, in the ledger.
	// Empty: "HOST:PID" of the parent process — in a plugin binary, the
	// cairn process (server, worker, run) that started the plugin.
	Worker string
}

var _ tasks.Task = Probe{}

// Info implements tasks.Task.
func (Probe) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    ProbeType,
		Summary: "Records each attempt in a ledger file outside Cairn (the chaos harness's probe).",
		Params: []cairn.ParamInfo{
			{Name: "ledger", Kind: cairn.KindString, Required: true, Doc: "absolute path of the ledger file (JSON Lines, appended with O_APPEND, one write and an fsync per record)"},
			{Name: "nap_ms", Kind: cairn.KindInt, Default: 0.0, Doc: "milliseconds between the start and done records (the attempt's work)"},
			{Name: "fail_permille", Kind: cairn.KindInt, Default: 0.0, Doc: "per thousand attempts, how many fail with a retryable error after their start record (chosen by a hash of run, task and attempt)"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "attempt", Doc: "the attempt number the probe ran as"},
			{Name: "nonce", Doc: "a random value of this attempt, also in its done record"},
			{Name: "worker", Doc: "the process that ran the attempt"},
		},
	}
}

type probeParams struct {
	Ledger       string `json:"ledger"`
	NapMS        int    `json:"nap_ms"`
	FailPermille int    `json:"fail_permille"`
}

// Run implements tasks.Task.
func (p Probe) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	var pp probeParams
	if err := req.DecodeParams(&pp); err != nil {
		return tasks.Result{}, err
	}
	if !filepath.IsAbs(pp.Ledger) {
		return tasks.Result{}, cairn.Permanentf("probe %s: ledger %q: want an absolute path", req.TaskID, pp.Ledger)
	}
	worker := p.Worker
	if worker == "" {
		host, _ := os.Hostname()
		worker = host + ":" + strconv.Itoa(os.Getppid())
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return tasks.Result{}, fmt.Errorf("probe %s: nonce: %w", req.TaskID, err)
	}
	rec := Record{Event: EventStart, Run: req.RunID, Task: req.TaskID, Attempt: req.Attempt, Worker: worker,
		Nonce: hex.EncodeToString(b[:]), PID: os.Getpid()}
	if err := Append(pp.Ledger, rec); err != nil {
		return tasks.Result{}, fmt.Errorf("probe %s: %w", req.TaskID, err)
	}
	if env.Log != nil {
		fmt.Fprintf(env.Log, "probe %s/%s attempt %d on %s nonce %s\n", req.RunID, req.TaskID, req.Attempt, worker, rec.Nonce)
	}
	if pp.NapMS > 0 {
		t := time.NewTimer(time.Duration(pp.NapMS) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return tasks.Result{}, context.Cause(ctx)
		case <-t.C:
		}
	}
	if pp.FailPermille > 0 {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%s/%d", req.RunID, req.TaskID, req.Attempt)
		if int(h.Sum64()%1000) < pp.FailPermille {
			return tasks.Result{}, fmt.Errorf("probe %s: attempt %d fails on purpose (fail_permille %d)", req.TaskID, req.Attempt, pp.FailPermille)
		}
	}
	rec.Event = EventDone
	if err := Append(pp.Ledger, rec); err != nil {
		return tasks.Result{}, fmt.Errorf("probe %s: %w", req.TaskID, err)
	}
	out := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	return tasks.Result{Outputs: map[string]json.RawMessage{
		"attempt": out(req.Attempt), "nonce": out(rec.Nonce), "worker": out(worker),
	}}, nil
}

// Events of the ledger.
const (
	EventStart = "start" // the attempt began (after its lease was granted)
	EventDone  = "done"  // the attempt's work is done; its success follows
)

// Record is one line of the ledger.
//
// The lease is named by (Run, Task, Attempt): every lease the store grants
// gets the task's next attempt number, and a completion is a
// compare-and-set on that number and the lease's token, so the attempt
// number is the lease's fencing number. The token itself is not handed to
// task code (a task holding it could report for its worker), so the
// ledger does not have it.
type Record struct {
	Event   string `json:"ev"`
	Run     string `json:"run"`
	Task    string `json:"task"`
	Attempt int    `json:"attempt"`
	Worker  string `json:"worker"`
	PID     int    `json:"pid"`
	Nonce   string `json:"nonce"`
	// At is the wall clock, in Unix nanoseconds, when the record was made.
	At int64 `json:"at"`
}

// Time is r.At as a time.
func (r Record) Time() time.Time { return time.Unix(0, r.At) }

// Append adds rec to the ledger at path, with At set to now: one write of
// one line on a file opened O_APPEND (so records of concurrent processes
// never interleave), then an fsync, so that a record made before a kill
// -9 of its process is there afterwards.
func Append(path string, rec Record) error {
	rec.At = time.Now().UnixNano()
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("ledger record: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("ledger %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	return nil
}

// ReadLedger reads every record of the ledger at path. A missing file is
// an empty ledger. A line that does not decode (only a torn last line
// could, after a machine crash) is an error naming it.
func ReadLedger(path string) ([]Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	return readLedger(path, f)
}

func readLedger(path string, r io.Reader) ([]Record, error) {
	var recs []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("ledger %s:%d: %w", path, n, err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	return recs, nil
}
