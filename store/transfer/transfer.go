// Package transfer is the row stream between two stores of different
// dialects, what 'cairn migrate --from sqlite://… --to postgres://…' moves
// a home's history through: which tables are copied and why the others are
// not (Plan), a table's columns in kinds both dialects share (Table,
// Column, Kind), its rows in primary-key order as plain Go values (Rows),
// and the digest both sides compute over them (Digest). store/sqlite
// writes the stream (Export), store/postgres reads it (Import); neither
// knows the other's driver. Standard library only.
package transfer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"unicode/utf8"
)

// Kind is what a column holds, in terms both dialects have: SQLite's
// INTEGER, REAL, TEXT and BLOB are PostgreSQL's BIGINT, DOUBLE PRECISION,
// TEXT and BYTEA (migrations/postgres/0001_init.sql).
type Kind uint8

const (
	Int   Kind = iota + 1 // int64
	Float                 // float64
	Text                  // string
	Bytes                 // []byte
)

func (k Kind) String() string {
	switch k {
	case Int:
		return "integer"
	case Float:
		return "real"
	case Text:
		return "text"
	case Bytes:
		return "bytes"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Column is one column of a table.
type Column struct {
	Name string
	Kind Kind
}

// Table is one table of the stream: its columns in the order a row's
// values come, its primary key (the order rows come in) and how many rows
// the source holds.
type Table struct {
	Name    string
	Columns []Column
	Key     []string
	Rows    int64
}

// Rows is one table's rows in primary-key order. Values are nil, int64,
// float64, string or []byte, one per column, as Normalize leaves them;
// the slice is the caller's until the next call of Next.
type Rows interface {
	Next() bool
	Values() ([]any, error)
	Err() error
	Close() error
}

// Progress is what a copy reports as it goes: the phase ("copy" or
// "verify"), the table, the rows done of the table's total (the source's
// count), and End on the table's last report of the phase.
type Progress struct {
	Phase       string
	Table       string
	Done, Total int64
	End         bool
}

// Decision says whether a table of Cairn's schema is copied, and why.
type Decision struct {
	Table string
	Copy  bool
	Why   string
}

// Plan is every table of the schema (migrations 0001-0016) and what a
// migration does with it, copied tables in an order their foreign keys
// allow. A table missing here is refused by both sides: a migration that
// adds one must say what becomes of it (store/sqlite's
// TestExportPlanCoversSchema).
func Plan() []Decision {
	return []Decision{
		{"runs", true, "the history: every run, its workflow file, params and state"},
		{"task_runs", true, "every task of every run: outputs, metrics, retry state"},
		{"attempts", true, "every attempt that ended: times, errors, cache keys"},
		{"artifacts", true, "lineage: each artifact's digest, size, type and first producer (the bytes stay in the home's artifacts folder)"},
		{"lineage", true, "lineage: which attempt read and wrote which artifact"},
		{"models", true, "the model registry: versions and stages"},
		{"model_stages", true, "the model registry: every stage change"},
		{"audit", true, "the audit log"},
		{"tokens", true, "the server's API and worker tokens (hashes only), so that they go on working"},
		{"schedules", true, "each schedule's position and pause, so that cron neither fires a slot again nor skips one"},
		{"pools", true, "the pools servers and workflows declared, with their sizes, so that tasks waiting for one go on waiting for it"},
		{"run_sources", true, "the sub-workflow files each run started with, so that resume and reproduce re-read them"},
		{"run_notify", true, "each run's notify: targets, so that a run finished or retried later still tells them"},
		{"alerts", true, "the outbox of notify:: what was sent, what failed, what waits (a pending alert is delivered by the new servers, with the same idempotency key)"},
		{"model_alerts", true, "each model's own alerts (a deploy's alerts:, cairn models alerts), which the new servers' leader goes on watching, with the count of their sets (the alerts' idempotency keys have it)"},
		{"model_alert_state", true, "whether each per-model alert's condition held at the last look, so that one that still holds does not alert again"},
		{"rollouts", true, "each model's rollout (canary, shadow, A-B): an active one goes on under the new servers' leader"},
		{"rollout_events", true, "the history of every rollout: starts, steps, promotions, rollbacks, changes by hand"},
		{"model_requests", true, "the request log of serving and its feedback, which live metrics per version are computed from"},
		{"model_minutes", true, "each model version's requests per minute, the models page's charts over time"},
		{"served_rows", true, "the rows serving sampled per model version, which the new servers' leader measures drift_above alerts over"},
		{"model_drift", true, "the drift last measured of each watched model version, for the models page and /metrics until it is measured again"},
		{"evaluations", false, "wake-ups between live scheduler processes, consumed and deleted as runs are planned; a server that takes a run over reads its state afresh (the id sequence is still set past the source's)"},
		{"workers", false, "the liveness of remote workers, which register again with the new servers"},
		{"leader", false, "the lease of the replica that runs cron and the reaper; the new replicas elect one"},
		{"schema_migrations", false, "the target's own, written by its migrations (source and target must be at the same version)"},
	}
}

// Copied returns the names of the tables Plan copies, in its order.
func Copied() []string {
	var out []string
	for _, d := range Plan() {
		if d.Copy {
			out = append(out, d.Table)
		}
	}
	return out
}

// Known returns the decision about table, if Plan has one.
func Known(table string) (Decision, bool) {
	for _, d := range Plan() {
		if d.Table == table {
			return d, true
		}
	}
	return Decision{}, false
}

// Normalize returns v, a value a driver read from a column of kind k, as
// the stream carries it: nil, int64, float64, string or []byte. Integers
// of the Go types drivers use become int64; an integer in a real column
// becomes float64; text in a bytes column becomes []byte and valid UTF-8
// bytes in a text column a string. Anything else is an error: a value the
// other side's column could not hold as it is.
func Normalize(k Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case Int:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
		}
	case Float:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		case float32:
			return float64(x), nil
		}
	case Text:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			if utf8.Valid(x) {
				return string(x), nil
			}
		}
	case Bytes:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	}
	return nil, fmt.Errorf("a %T (%s) in a %s column", v, preview(v), k)
}

func preview(v any) string {
	s := fmt.Sprint(v)
	if b, ok := v.([]byte); ok {
		s = fmt.Sprintf("%q", b)
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// Digest is the sha256 of a table's rows in the order they were added,
// each value encoded by its type with its length, so that two tables have
// the same digest exactly when they hold the same values in the same
// order: both sides of a copy compute it over their own reads.
type Digest struct {
	h    hash.Hash
	rows int64
	buf  []byte
}

// NewDigest returns an empty digest.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// Add adds one row of normalized values (see Normalize).
func (d *Digest) Add(row []any) error {
	b := d.buf[:0]
	b = binary.BigEndian.AppendUint32(b, uint32(len(row)))
	for i, v := range row {
		switch x := v.(type) {
		case nil:
			b = append(b, 'n')
		case int64:
			b = append(b, 'i')
			b = binary.BigEndian.AppendUint64(b, uint64(x))
		case float64:
			b = append(b, 'f')
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(x))
		case string:
			b = append(b, 's')
			b = binary.BigEndian.AppendUint64(b, uint64(len(x)))
			b = append(b, x...)
		case []byte:
			b = append(b, 'b')
			b = binary.BigEndian.AppendUint64(b, uint64(len(x)))
			b = append(b, x...)
		default:
			return fmt.Errorf("digest: value %d is a %T, not a normalized value", i, v)
		}
	}
	d.h.Write(b)
	d.buf = b[:0]
	if cap(d.buf) > 1<<20 {
		d.buf = nil // one huge row need not stay
	}
	d.rows++
	return nil
}

// Rows is how many rows were added.
func (d *Digest) Rows() int64 { return d.rows }

// Sum is the digest in hex.
func (d *Digest) Sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// TableCheck is one table's verification: the rows and digest each side
// read.
type TableCheck struct {
	Table                      string
	SourceRows, TargetRows     int64
	SourceSHA256, TargetSHA256 string
}

// OK reports whether both sides read the same rows.
func (c TableCheck) OK() bool {
	return c.SourceRows == c.TargetRows && c.SourceSHA256 == c.TargetSHA256 && c.SourceSHA256 != ""
}

// MismatchError is a copy whose verification failed: the target's rows
// differ from the source's in the tables named. The copy was rolled back.
type MismatchError struct {
	Checks []TableCheck
}

func (e *MismatchError) Error() string {
	var bad []string
	for _, c := range e.Checks {
		if !c.OK() {
			bad = append(bad, c.Table)
		}
	}
	return fmt.Sprintf("verification failed: the copy differs from the source in %v (counts or sha256); it was rolled back, the target holds nothing of it", bad)
}
