package collect

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/synthetic"
)

// formatByName returns the format a file name implies ("" for none), or
// an error for the formats collect refuses.
func formatByName(name string) (string, error) {
	switch strings.ToLower(path.Ext(name)) {
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	case ".csv":
		return FormatCSV, nil
	case ".tsv", ".tab":
		return "", cairn.Permanentf("%s is tab-separated: collect reads CSV (comma-separated) and JSON Lines", name)
	case ".gz", ".zip", ".bz2", ".xz", ".zst":
		return "", cairn.Permanentf("%s is compressed: give the uncompressed CSV or JSON Lines", name)
	case ".parquet", ".xlsx", ".xls", ".feather", ".arrow", ".avro":
		return "", cairn.Permanentf("%s: this format is not supported: export it as CSV or JSON Lines", name)
	}
	return "", nil
}

// readFile reads a file:// source. It reads regular files only: a FIFO, a
// device (/dev/zero), a socket or a directory fails for good at once,
// before any read (the file is opened non-blocking, so a FIFO without a
// writer cannot hold the open, and checked again on the open descriptor).
// A file that does not exist, cannot be read for lack of permission or is
// over the limit fails for good too; another read error may be transient.
// The read stops when ctx ends.
func readFile(ctx context.Context, p params, log io.Writer) (*dataset.Frame, error) {
	abs, err := filepath.Abs(p.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Source, err)
	}
	what := "file " + abs
	format := p.Format
	if format == "" {
		if format, err = formatByName(abs); err != nil {
			return nil, err
		}
	}
	if format == "" {
		format = FormatCSV
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		hint := ""
		if !filepath.IsAbs(p.Path) {
			wd, _ := os.Getwd()
			hint = fmt.Sprintf(" (a relative path is resolved against the working directory, %s; write file://${{ workflow.dir }}/%s for a file beside the workflow)", wd, p.Path)
		}
		return nil, cairn.Permanentf("%s does not exist%s", what, hint)
	case errors.Is(err, fs.ErrPermission):
		return nil, cairn.Permanentf("%s: permission denied", what)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := regular(fi, what); err != nil {
		return nil, err
	}
	fh, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return nil, cairn.Permanentf("%s: permission denied", what)
	case errors.Is(err, syscall.ENXIO): // a socket, or a device without its driver
		return nil, cairn.Permanentf("%s is not a regular file: collect reads regular CSV or JSON Lines files only", what)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer fh.Close()
	// The path may have been replaced since the Stat: check what was opened.
	if fi, err = fh.Stat(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := regular(fi, what); err != nil {
		return nil, err
	}
	if fi.Size() > p.MaxBytes {
		return nil, cairn.Permanentf("%s is %d bytes, over the limit of %d (raise max_bytes)", what, fi.Size(), p.MaxBytes)
	}
	raw, err := readLimited(tasks.ContextReader(ctx, fh), p.MaxBytes, what)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: read: %w", what, context.Cause(ctx))
		}
		return nil, err
	}
	fmt.Fprintf(log, "collect: read %s (%s, %d bytes, %s)\n", what, formatName(format), len(raw), digest(raw))
	return parse(ctx, raw, format, what)
}

// regular refuses what is not a regular file, naming what it is.
func regular(fi fs.FileInfo, what string) error {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return cairn.Permanentf("%s is a directory: name a CSV or JSON Lines file", what)
	}
	kind := tasks.FileKind(m)
	return cairn.Permanentf("%s is %s: collect reads regular CSV or JSON Lines files only (write the data to a file first)", what, kind)
}

// readLimited reads r whole, failing for good past max bytes.
func readLimited(r io.Reader, max int64, what string) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", what, err)
	}
	if int64(len(raw)) > max {
		return nil, cairn.Permanentf("%s is over the limit of %d bytes (raise max_bytes)", what, max)
	}
	return raw, nil
}

// shownURL is u without its password and query (which may hold tokens).
func shownURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment = "", ""
	s := c.Redacted()
	if u.RawQuery != "" {
		s += "?…"
	}
	return s
}

// fetch reads an http(s) source. Retryable: network errors, timeouts, 408,
// 425, 429 and 5xx. Permanent: any other status that is not 2xx, a TLS
// certificate the system does not trust, a body over the limit, an HTML
// page where data was expected.
func (t *Task) fetch(ctx context.Context, p params, log io.Writer) (*dataset.Frame, error) {
	what := shownURL(p.URL)
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL.String(), nil)
	if err != nil {
		return nil, cairn.Permanentf("%s: %w", what, err)
	}
	req.Header.Set("Accept", "text/csv, application/x-ndjson;q=0.9, application/jsonl;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "cairn-collect")
	client := *t.http
	client.CheckRedirect = checkRedirect(p.Redirects, t.http.CheckRedirect, log)
	resp, err := client.Do(req)
	if err != nil {
		return nil, httpErr(ctx, what, p, err)
	}
	defer resp.Body.Close()
	if final := shownURL(resp.Request.URL); final != what {
		what = fmt.Sprintf("%s (redirected to %s)", what, final)
	}
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests, s >= 500:
		return nil, fmt.Errorf("GET %s: %s (the server may recover: retried under the task's policy)", what, resp.Status)
	default:
		return nil, cairn.Permanentf("GET %s: %s", what, resp.Status)
	}
	if resp.ContentLength > p.MaxBytes {
		return nil, cairn.Permanentf("GET %s: the body is %d bytes, over the limit of %d (raise max_bytes)", what, resp.ContentLength, p.MaxBytes)
	}
	ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	format := p.Format
	if format == "" {
		if format, err = formatByName(p.URL.Path); err != nil {
			return nil, err
		}
	}
	if format == "" {
		switch ctype {
		case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/json-lines":
			format = FormatJSONL
		case "text/html", "application/xhtml+xml":
			return nil, cairn.Permanentf("GET %s: the server sent a web page (%s), not CSV or JSON Lines: check the URL", what, ctype)
		case "application/json":
			return nil, cairn.Permanentf("GET %s: the server sent application/json: if it is JSON Lines (one object per line), set format: jsonl", what)
		default:
			format = FormatCSV
		}
	}
	raw, err := readLimited(tasks.ContextReader(ctx, resp.Body), p.MaxBytes, "GET "+what)
	if err != nil {
		if !cairn.IsRetryable(err) {
			return nil, err
		}
		// httpErr names the GET itself: pass it the read's own error, not
		// readLimited's "GET URL: read: ..." (which said it twice).
		return nil, httpErr(ctx, what, p, errors.Unwrap(err))
	}
	fmt.Fprintf(log, "collect: GET %s: %s, %s (%s), %d bytes, %s\n", what, resp.Status, formatName(format), ctype, len(raw), digest(raw))
	return parse(parent, raw, format, what)
}

// redirectError is a redirect the redirects param does not allow.
type redirectError struct {
	from, to *url.URL
	policy   string
}

// maxRedirects is how many redirects one fetch follows, as Go's default.
const maxRedirects = 10

func (e *redirectError) Error() string {
	if e.policy == "loop" {
		return fmt.Sprintf("more than %d redirects (a loop?), the last to %s: give the final URL", maxRedirects, shownURL(e.to))
	}
	if e.policy == RedirectsNone {
		return fmt.Sprintf("the server redirects to %s, and redirects: none follows no redirect (give that URL, or set redirects: same_origin or any)", shownURL(e.to))
	}
	return fmt.Sprintf("the server redirects from %s to another origin, %s: redirects are followed within the URL's scheme, host and port only (give the final URL, or set redirects: any to follow it)", origin(e.from), shownURL(e.to))
}

// checkRedirect is the http client's redirect policy for one fetch: it
// logs each redirect and refuses those policy does not allow (then next,
// the client's own policy, if any; else Go's limit of 10 redirects).
func checkRedirect(policy string, next func(*http.Request, []*http.Request) error, log io.Writer) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		from := via[len(via)-1].URL
		switch {
		case policy == RedirectsNone:
			return &redirectError{from: from, to: req.URL, policy: policy}
		case policy != RedirectsAny && origin(req.URL) != origin(via[0].URL):
			return &redirectError{from: via[0].URL, to: req.URL, policy: policy}
		}
		fmt.Fprintf(log, "collect: redirected: %s → %s\n", shownURL(from), shownURL(req.URL))
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return &redirectError{from: via[0].URL, to: req.URL, policy: "loop"}
		}
		return nil
	}
}

// origin is u's scheme, host and port (the default port made explicit).
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// httpErr describes a transport error. An unreachable source (a name that
// does not resolve, a refused connection, no route) and a TLS certificate
// problem are permanent: retrying does not mend a wrong address. Timeouts,
// resets and the rest are retryable.
func httpErr(ctx context.Context, what string, p params, err error) error {
	if ue, ok := err.(*url.Error); ok {
		// Its text repeats the whole URL (the query included, which may
		// hold a token); what names it, as it may be shown.
		err = ue.Err
	}
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
	)
	var redirect *redirectError
	switch {
	case errors.As(err, &redirect):
		return cairn.Permanentf("GET %s: %v", what, redirect)
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &hostname):
		return cairn.Permanentf("GET %s: TLS certificate not accepted: %w", what, err)
	case cairn.Unreachable(err):
		return cairn.Permanentf("GET %s: the source is unreachable (check the URL and that the server runs): %w", what, err)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return fmt.Errorf("GET %s: no complete answer within the timeout of %v: %w", what, p.Timeout, err)
	}
	return fmt.Errorf("GET %s: %w", what, err)
}

// query runs a sql source through the injected querier.
func (t *Task) query(ctx context.Context, p params, log io.Writer) (*dataset.Frame, error) {
	if t.sql == nil {
		return nil, cairn.Permanentf("source sql: this binary has no SQL support (collect.Options.SQL is nil)")
	}
	shown := redactedDSN(p.DSN)
	qctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	cols, rows, err := t.sql.Query(qctx, p.DSN, p.Query, p.Args, p.Named, p.MaxBytes)
	if err != nil {
		return nil, err // the querier names the DSN and decides permanence
	}
	what := "the result of the query on " + shown
	if len(rows) == 0 {
		return nil, cairn.Permanentf("%s has no rows (columns %s)", what, strings.Join(cols, ", "))
	}
	seen := make(map[string]int, len(cols))
	for j, c := range cols {
		if c == "" {
			return nil, cairn.Permanentf("%s: column %d has no name: name it with AS", what, j+1)
		}
		if k, dup := seen[c]; dup {
			return nil, cairn.Permanentf("%s: columns %d and %d are both named %q: rename one with AS", what, k+1, j+1, c)
		}
		seen[c] = j
	}
	// As JSON Lines, one row per line whatever the values hold, so that a
	// parse error's line is the result's row; values type as CSV fields do.
	var buf bytes.Buffer
	keys := make([][]byte, len(cols))
	for j, c := range cols {
		keys[j], _ = json.Marshal(c)
	}
	for _, row := range rows {
		buf.WriteByte('{')
		for j, v := range row {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.Write(keys[j])
			buf.WriteByte(':')
			if !v.Valid {
				buf.WriteString("null")
				continue
			}
			b, _ := json.Marshal(v.String) // valid UTF-8: the querier checks
			buf.Write(b)
		}
		buf.WriteString("}\n")
	}
	fmt.Fprintf(log, "collect: query on %s with %s returned %s × %s\n", shown, tasks.Plural(len(p.Args)+len(p.Named), "bound arg"), tasks.Plural(len(rows), "row"), tasks.Plural(len(cols), "column"))
	f, err := dataset.ReadJSONL(tasks.ContextReader(ctx, &buf), dataset.ReadOptions{MaxBytes: -1})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		var pe *dataset.ParseError
		if errors.As(err, &pe) {
			col := ""
			if pe.Column != "" {
				col = fmt.Sprintf(", column %q", pe.Column)
			}
			return nil, cairn.Permanentf("%s: row %d%s: %s: %w", what, pe.Line, col, pe.Msg, pe.Err)
		}
		return nil, cairn.Permanentf("%s: %w", what, err)
	}
	return f, nil
}

// generate runs the synthetic source.
func generate(ctx context.Context, p params, log io.Writer) (*dataset.Frame, error) {
	var (
		f   *dataset.Frame
		err error
	)
	if p.Generator == Regression {
		g := p.Reg
		fmt.Fprintf(log, "collect: synthetic regression: %d rows, %d features (%d informative), noise %v, missing_rate %v, %s, seed %d\n",
			g.Rows, g.Features, informative(g.Informative, g.Features), g.Noise, g.MissingRate, driftText(g.Drift), g.Seed)
		if g.Sample != 0 {
			fmt.Fprintf(log, "collect: sample %d of seed %d\n", g.Sample, g.Seed)
		}
		f, err = g.Frame()
	} else {
		g := p.Class
		fmt.Fprintf(log, "collect: synthetic classification: %d rows, %d features (%d informative), %d classes, %s, missing_rate %v, %s, seed %d\n",
			g.Rows, g.Features, informative(g.Informative, g.Features), max(g.Classes, 2), weightsText(g.Weights), g.MissingRate, driftText(g.Drift), g.Seed)
		if g.Sample != 0 {
			fmt.Fprintf(log, "collect: sample %d of seed %d\n", g.Sample, g.Seed)
		}
		f, err = g.Frame()
	}
	if err != nil {
		return nil, cairn.Permanentf("synthetic %s: %w", p.Generator, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("synthetic: cancelled: %w", context.Cause(ctx))
	}
	return f, nil
}

func informative(n, features int) int {
	if n == 0 {
		return min(features, 5)
	}
	return n
}

func driftText(d synthetic.Drift) string {
	scale := d.Scale
	if scale == 0 {
		scale = 1
	}
	if d.Shift == 0 && scale == 1 {
		return "no drift"
	}
	which := "all features"
	if d.Features > 0 {
		which = fmt.Sprintf("x0..x%d", d.Features-1)
	}
	return fmt.Sprintf("drift x×%v%+v on %s", scale, d.Shift, which)
}

func weightsText(w []float64) string {
	if w == nil {
		return "balanced"
	}
	return fmt.Sprintf("weights %v", w)
}
