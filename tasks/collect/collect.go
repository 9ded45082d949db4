package collect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/internal/fileid"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
)

// MediaType is the media type of the data output.
const MediaType = "text/csv"

// SQLQuerier runs the query of a `sql` source: exactly one statement,
// read-only, on the database the DSN names, with its placeholders bound to
// args (by position) or named (by name) — values nil, bool, int64, float64
// or string, never spliced into the text — returning the column names and
// the rows with every value as text (Valid false: NULL). Errors that
// retrying cannot fix must be cairn.Permanent. cmd/cairn passes
// store/sqlsource's Source.
type SQLQuerier interface {
	Query(ctx context.Context, dsn, query string, args []any, named map[string]any, maxBytes int64) (columns []string, rows [][]sql.NullString, err error)
}

// Options are what the binary lends the task type.
type Options struct {
	// SQL runs the queries of sql sources; nil makes a sql source fail
	// with a message saying this binary has no SQL support.
	SQL SQLQuerier
	// HTTP fetches http(s) sources; nil means a client of its own with
	// the default transport (proxies from the environment).
	HTTP *http.Client
}

// Task is the collect task type. It holds only what New was given and
// serves any number of attempts at once.
type Task struct {
	sql  SQLQuerier
	http *http.Client
	// digests remembers the digests SourceDigest read, by the file's
	// absolute path, with the file's identity then (fileid.ID): a file
	// unchanged since is not read again in this process. ndigests counts
	// them, emptied past maxDigests.
	digests  sync.Map // path → sourceDigest
	ndigests atomic.Int64
	hashed   atomic.Int64 // files SourceDigest read (tests)
}

// sourceDigest is a file's digest and its identity when it was read.
type sourceDigest struct {
	id     fileid.ID
	digest string
}

// maxDigests bounds what a Task remembers of the files it digested.
const maxDigests = 4096

// settled is how long before it is read a file must have last changed
// for its digest to be remembered: a change within the same tick of a
// coarse file-system clock leaves its times as they were.
const settled = time.Second

// idOf returns fi's identity, and whether it has one that a later change
// of the file is sure to move: its change time at least settled before
// now (a write within the same tick of a coarse file-system clock would
// not move it).
func idOf(fi os.FileInfo, now time.Time) (fileid.ID, bool) {
	id, ok := fileid.Of(fi)
	return id, ok && now.UnixNano()-id.Ctime > int64(settled)
}

var (
	_ tasks.Task                = (*Task)(nil)
	_ tasks.ParamValidator      = (*Task)(nil)
	_ tasks.CacheDefaulter      = (*Task)(nil)
	_ tasks.SourceDigester      = (*Task)(nil)
	_ tasks.KnownSourceDigester = (*Task)(nil)
)

// New returns the collect task type.
func New(opts Options) *Task {
	t := &Task{sql: opts.SQL, http: opts.HTTP}
	if t.http == nil {
		t.http = &http.Client{}
	}
	return t
}

// CacheByDefault: a synthetic data set is a function of its params, and a
// file is cached by the digest of its bytes (SourceDigest), so both are
// cached by default; a URL or a query reads data that may change without
// any param changing, so collect from them runs every time unless the
// task says cache: true (what it read keeps its digest, so the tasks
// downstream of an unchanged source are still reused). A source only known
// at run time (a reference) is not cached by default either.
func (*Task) CacheByDefault(params map[string]any) (bool, string) {
	src, _ := params["source"].(string)
	switch {
	case src == SourceSynthetic:
		return true, "collect from a synthetic source is cached by default"
	case strings.HasPrefix(src, "file:"):
		return true, "collect from a file is cached by default, by the digest of the file's bytes"
	}
	return false, "collect from a URL, a database or a source named at run time reads data that may change between runs: it runs every time unless it says cache: true (the tasks after it are still reused when what it read is unchanged)"
}

// SourceDigest is the sha256 of a file source's bytes, read before the
// attempt runs (tasks.SourceDigester): part of the cache key, so that a
// changed file is read again. Other sources add nothing (they are cached
// by their params only when the task says cache: true). A file that
// cannot be read as collect would read it is not cached (ok false): the
// attempt runs and says why it fails.
//
// A file whose identity (size, times, device, inode: fileid.ID) is what it
// was when this Task last digested it is not read again: the digest then
// is returned. Only a file that had not changed for a second (settled)
// when it was read is remembered.
func (t *Task) SourceDigest(ctx context.Context, req tasks.Request) (string, bool) {
	p, abs, file, ok := fileSource(req)
	if !ok || !file {
		return "", ok
	}
	fh, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", false
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > p.MaxBytes {
		return "", false
	}
	id, settledID := idOf(fi, time.Now())
	if v, ok := t.digests.Load(abs); ok && settledID && v.(sourceDigest).id == id {
		return v.(sourceDigest).digest, true
	}
	t.hashed.Add(1)
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(tasks.ContextReader(ctx, fh), p.MaxBytes+1))
	if err != nil || n > p.MaxBytes {
		return "", false
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if after, err := fh.Stat(); settledID && err == nil {
		if again, _ := idOf(after, time.Now()); again == id {
			if _, loaded := t.digests.Swap(abs, sourceDigest{id: id, digest: digest}); !loaded && t.ndigests.Add(1) > maxDigests {
				t.digests.Clear()
				t.ndigests.Store(0)
			}
		}
	}
	return digest, true
}

// fileSource decodes req's params for SourceDigest: file says whether
// the source is a file (at abs); ok false, that the params do not decode
// (or the path has no absolute form).
func fileSource(req tasks.Request) (p params, abs string, file, ok bool) {
	p, err := decode(req)
	if err != nil {
		return p, "", false, false
	}
	if p.Kind != SourceFile {
		return p, "", false, true
	}
	abs, err = filepath.Abs(p.Path)
	return p, abs, err == nil, err == nil
}

// KnownSourceDigest is SourceDigest without reading the file
// (tasks.KnownSourceDigester): the digest of a file unchanged since this
// Task read it (its identity as then), "" for a source other than a file;
// ok false otherwise.
func (t *Task) KnownSourceDigest(req tasks.Request) (string, bool) {
	p, abs, file, ok := fileSource(req)
	if !ok || !file {
		return "", ok
	}
	v, ok := t.digests.Load(abs)
	if !ok {
		return "", false
	}
	fi, err := os.Stat(abs)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > p.MaxBytes {
		return "", false
	}
	if id, settled := idOf(fi, time.Now()); !settled || v.(sourceDigest).id != id {
		return "", false
	}
	return v.(sourceDigest).digest, true
}

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "collect",
		Cache:   cairn.CacheAuto,
		Summary: "Reads a data set from a file, an http(s) URL, a SQL query or a seeded synthetic generator, infers its schema, and stores it as CSV.",
		Params: []cairn.ParamInfo{
			{Name: "source", Kind: cairn.KindString, Required: true, Doc: "file:///PATH or file://localhost/PATH (RFC 8089: no other host; %XX escapes decoded), or file:PATH relative to the working directory of the process running the task (use file://${{ workflow.dir }}/PATH for data beside the workflow), http(s)://URL, sql (with dsn and query) or synthetic"},
			{Name: "format", Kind: cairn.KindString, Doc: "file and http: csv (with a header row) or jsonl (JSON Lines); default by extension (.jsonl, .ndjson) or, for http, the Content-Type; else csv"},
			{Name: "max_bytes", Kind: cairn.KindInt, Default: DefaultMaxBytes, Doc: "size limit of a file, an http body or a query result; a larger source fails without retry"},
			{Name: "timeout", Kind: cairn.KindDuration, Default: DefaultTimeout.String(), Doc: "http and sql: how long the request or query may take; a timeout is retried under the task's policy"},
			{Name: "redirects", Kind: cairn.KindString, Default: RedirectsSameOrigin, Doc: "http: which redirects to follow: same_origin (same scheme, host and port as the URL), any, or none; a redirect it does not follow fails without retry"},
			{Name: "dsn", Kind: cairn.KindString, Doc: "sql: postgres://user:password@host:port/db?sslmode=... or sqlite:PATH; read-only whatever the DSN says (for PostgreSQL, use a role that can only read)"},
			{Name: "query", Kind: cairn.KindString, Doc: "sql: exactly one statement that reads (SELECT or WITH), run read-only; no ${{ }} references inside (bind values with args); rows come in the order it gives (add ORDER BY for determinism)"},
			{Name: "args", Kind: cairn.KindAny, Doc: "sql: values bound to the query's placeholders, never spliced into its text: a list for ? / ?N (SQLite) and $1, $2 (PostgreSQL), or a map for :name (SQLite) and @name (PostgreSQL); each a string, number, boolean, null or a ${{ }} reference to one"},
			{Name: "generator", Kind: cairn.KindString, Default: Classification, Doc: "synthetic: classification (label: class index 0..classes-1) or regression (label: a number)"},
			{Name: "rows", Kind: cairn.KindInt, Default: DefaultRows, Doc: "synthetic: number of rows"},
			{Name: "features", Kind: cairn.KindInt, Default: DefaultFeatures, Doc: "synthetic: number of numeric features x0, x1, ..."},
			{Name: "informative", Kind: cairn.KindInt, Doc: "synthetic: how many features (the first ones) carry the label; default min(features, 5); the rest are noise"},
			{Name: "classes", Kind: cairn.KindInt, Default: 2, Doc: "synthetic classification: number of classes (2^informative must be at least that)"},
			{Name: "weights", Kind: cairn.KindList, Doc: "synthetic classification: class proportions, one per class, for imbalance (for example [0.9, 0.1]); default balanced; counts are exact"},
			{Name: "class_sep", Kind: cairn.KindFloat, Default: 1.0, Doc: "synthetic classification: class centroids sit at ±class_sep on each informative feature; larger is easier"},
			{Name: "label_noise", Kind: cairn.KindFloat, Default: 0.0, Doc: "synthetic classification: fraction of labels replaced by a random class, in [0, 1)"},
			{Name: "noise", Kind: cairn.KindFloat, Default: 0.0, Doc: "synthetic regression: standard deviation of the noise added to the target"},
			{Name: "missing_rate", Kind: cairn.KindFloat, Default: 0.0, Doc: "synthetic: probability that a feature value is missing, in [0, 1); labels are never missing"},
			{Name: "drift_shift", Kind: cairn.KindFloat, Default: 0.0, Doc: "synthetic: distribution drift, added to the drifted features after the labels are drawn"},
			{Name: "drift_scale", Kind: cairn.KindFloat, Default: 1.0, Doc: "synthetic: distribution drift, multiplying the drifted features (before the shift)"},
			{Name: "drift_features", Kind: cairn.KindInt, Default: 0, Doc: "synthetic: how many features drift, from x0; 0 means all"},
			{Name: "label", Kind: cairn.KindString, Doc: "synthetic: name of the label column; default label (classification) or target (regression)"},
			{Name: "seed", Kind: cairn.KindInt, Default: 0, Doc: "synthetic: a non-negative integer; the same seed and params give the same bytes"},
			{Name: "at", Kind: cairn.KindString, Doc: "synthetic: the time the data stands for (a date or an RFC 3339 time, such as a run's slot): each time is another sample of the seed's distribution (unless sample is given), and with drift_per_day the drift grows with it"},
			{Name: "drift_since", Kind: cairn.KindString, Doc: "synthetic: with drift_per_day, the date or time the drift starts from"},
			{Name: "drift_per_day", Kind: cairn.KindFloat, Doc: "synthetic: added to drift_shift for each day from drift_since to at (none before drift_since)"},
			{Name: "sample", Kind: cairn.KindInt, Default: 0, Doc: "synthetic: another sample (a non-negative integer) of the seed's distribution: other rows, the same centroids or coefficients; 0 is the seed's own rows"},
		},
		Outputs: []cairn.PortInfo{
			{Name: "data", Artifact: true, Doc: "the data set as CSV (text/csv, written by dataset.WriteCSV: canonical numbers, RFC 3339 UTC datetimes, true/false, missing values empty)"},
			{Name: "schema", Doc: "the inferred schema: {rows, columns: [{name, kind (numeric, categorical, boolean, datetime), missing, distinct | min, max, mean}]}"},
			{Name: "rows", Doc: "number of rows"},
			{Name: "columns", Doc: "number of columns"},
		},
	}
}

// Run collects the source; see the package documentation.
func (t *Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	id := req.TaskID
	p, err := decode(req)
	if err != nil {
		return tasks.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("collect %s: not started: %w", id, context.Cause(ctx))
	}
	if env.Artifacts == nil {
		return tasks.Result{}, cairn.Permanentf("collect %s: the attempt has no artifact store", id)
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	f, err := t.collect(ctx, p, log)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("collect %s: %w", id, err)
	}
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, f); err != nil {
		return tasks.Result{}, cairn.Permanentf("collect %s: write data: %w", id, err)
	}
	ref, err := env.Artifacts.Put(ctx, MediaType, &buf)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("collect %s: store data: %w", id, err)
	}
	schema := dataset.Describe(f)
	schemaJSON, err := json.Marshal(schema)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("collect %s: schema: %w", id, err)
	}
	missing := 0
	for _, c := range schema.Columns {
		missing += c.Missing
	}
	logSchema(log, schema, missing)
	return tasks.Result{
		Outputs: map[string]json.RawMessage{
			"data":    ref.JSON(),
			"schema":  schemaJSON,
			"rows":    json.RawMessage(fmt.Sprint(schema.Rows)),
			"columns": json.RawMessage(fmt.Sprint(len(schema.Columns))),
		},
		Metrics: map[string]float64{
			"rows":           float64(schema.Rows),
			"columns":        float64(len(schema.Columns)),
			"missing_values": float64(missing),
		},
	}, nil
}

// decode reads the request's params; every problem is permanent.
func decode(req tasks.Request) (params, error) {
	m, err := req.DecodeMap("collect")
	if err != nil {
		return params{}, err
	}
	p, errs := parseParams(m, false)
	return p, tasks.ParamsError("collect", req.TaskID, errs)
}

func (t *Task) collect(ctx context.Context, p params, log io.Writer) (*dataset.Frame, error) {
	switch p.Kind {
	case SourceFile:
		return readFile(ctx, p, log)
	case SourceHTTP:
		return t.fetch(ctx, p, log)
	case SourceSQL:
		return t.query(ctx, p, log)
	case SourceSynthetic:
		return generate(ctx, p, log)
	}
	return nil, cairn.Permanentf("unknown source %q", p.Source)
}

// logSchema writes the profile: one line overall, one per column (the
// first hundred).
func logSchema(log io.Writer, s dataset.Schema, missing int) {
	kinds := map[dataset.Kind]int{}
	for _, c := range s.Columns {
		kinds[c.Kind]++
	}
	var parts []string
	for _, k := range []dataset.Kind{dataset.Numeric, dataset.Categorical, dataset.Boolean, dataset.Datetime} {
		if kinds[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
		}
	}
	fmt.Fprintf(log, "collect: %s × %s (%s), %s\n", tasks.Plural(s.Rows, "row"), tasks.Plural(len(s.Columns), "column"), strings.Join(parts, ", "), tasks.Plural(missing, "missing value"))
	const maxLines = 100
	for i, c := range s.Columns {
		if i == maxLines {
			fmt.Fprintf(log, "collect: ... and %d more columns (see the schema output)\n", len(s.Columns)-maxLines)
			break
		}
		fmt.Fprintf(log, "collect:   %-24s %-11s %d missing\n", c.Name, c.Kind, c.Missing)
	}
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// parse reads raw bytes as format, after refusing what is plainly not
// text. Every error is permanent except a cancellation.
func parse(ctx context.Context, raw []byte, format, what string) (*dataset.Frame, error) {
	if err := sniff(raw, what); err != nil {
		return nil, err
	}
	opts := dataset.ReadOptions{MaxBytes: -1}
	r := tasks.ContextReader(ctx, bytes.NewReader(raw))
	var (
		f   *dataset.Frame
		err error
	)
	if format == FormatJSONL {
		f, err = dataset.ReadJSONL(r, opts)
	} else {
		f, err = dataset.ReadCSV(r, opts)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		var pe *dataset.ParseError
		if format == FormatCSV && errors.As(err, &pe) && pe.Line <= 2 && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return nil, cairn.Permanentf("%s is not CSV: %w (it looks like JSON Lines: name it .jsonl or set format: jsonl)", what, err)
		}
		return nil, cairn.Permanentf("%s is not valid %s: %w", what, formatName(format), err)
	}
	if f.Rows() == 0 {
		if len(f.Columns) == 0 {
			return nil, cairn.Permanentf("%s is empty", what)
		}
		return nil, cairn.Permanentf("%s has a header (%s) but no rows", what, strings.Join(f.Names(), ", "))
	}
	return f, nil
}

func formatName(format string) string {
	if format == FormatJSONL {
		return "JSON Lines"
	}
	return "CSV"
}

// sniff refuses compressed and binary inputs with a message saying what
// they look like.
func sniff(raw []byte, what string) error {
	switch {
	case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
		return cairn.Permanentf("%s is gzip-compressed: give the uncompressed CSV or JSON Lines", what)
	case bytes.HasPrefix(raw, []byte("PK\x03\x04")):
		return cairn.Permanentf("%s is a zip archive (or an .xlsx workbook): export it as CSV", what)
	case bytes.HasPrefix(raw, []byte("PAR1")):
		return cairn.Permanentf("%s is a Parquet file: export it as CSV or JSON Lines", what)
	case bytes.HasPrefix(raw, []byte("SQLite format 3\x00")):
		return cairn.Permanentf("%s is a SQLite database: use source: sql with dsn: \"sqlite:PATH\" and a query", what)
	}
	head := raw[:min(len(raw), 8192)]
	if i := bytes.IndexByte(head, 0); i >= 0 {
		return cairn.Permanentf("%s is not a text file (a NUL byte at offset %d): want CSV or JSON Lines", what, i)
	}
	return nil
}
