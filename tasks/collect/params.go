package collect

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/synthetic"
)

// Source kinds.
const (
	SourceFile      = "file"
	SourceHTTP      = "http"
	SourceSQL       = "sql"
	SourceSynthetic = "synthetic"
)

// Formats of file and http sources.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// Generators of the synthetic source.
const (
	Classification = "classification"
	Regression     = "regression"
)

// What an http source does with a redirect (param redirects).
const (
	RedirectsSameOrigin = "same_origin" // follow within the URL's scheme, host and port (default)
	RedirectsAny        = "any"         // follow to any origin
	RedirectsNone       = "none"        // follow none
)

// Defaults.
const (
	DefaultMaxBytes int64 = 256 << 20
	DefaultTimeout        = 30 * time.Second
	DefaultRows           = 1000
	DefaultFeatures       = 10
)

// paramNames are every param, in Info order; applies says which source
// (or generator) each belongs to ("" = all).
var paramNames = []string{
	"source", "format", "max_bytes", "timeout", "redirects", "dsn", "query", "args",
	"generator", "rows", "features", "informative", "classes", "weights", "class_sep",
	"label_noise", "noise", "missing_rate", "drift_shift", "drift_scale", "drift_features", "label", "seed", "sample",
	"at", "drift_since", "drift_per_day",
}

var applies = map[string]string{
	"format": "file, http", "timeout": "http, sql", "redirects": SourceHTTP, "dsn": SourceSQL, "query": SourceSQL, "args": SourceSQL,
	"generator": SourceSynthetic, "rows": SourceSynthetic, "features": SourceSynthetic,
	"informative": SourceSynthetic, "classes": Classification, "weights": Classification,
	"class_sep": Classification, "label_noise": Classification, "noise": Regression,
	"missing_rate": SourceSynthetic, "drift_shift": SourceSynthetic, "drift_scale": SourceSynthetic,
	"drift_features": SourceSynthetic, "label": SourceSynthetic, "seed": SourceSynthetic, "sample": SourceSynthetic,
	"at": SourceSynthetic, "drift_since": SourceSynthetic, "drift_per_day": SourceSynthetic,
}

// params are the decoded `with:` params.
type params struct {
	Source   string // as written
	Kind     string // SourceFile, SourceHTTP, SourceSQL, SourceSynthetic
	Path     string // file: the path after file://
	URL      *url.URL
	Format   string // "" = by extension / content type
	MaxBytes int64
	Timeout  time.Duration
	DSN      string
	Query    string
	// Args are the query's bound values: by position (Args) or by name
	// (Named); each nil, bool, int64, float64 or string.
	Args      []any
	Named     map[string]any
	Redirects string

	Generator string
	Class     synthetic.Classification
	Reg       synthetic.Regression

	refs map[string]bool
}

// ValidateParams checks the params as written: the source (its scheme,
// with the nearest known one suggested), the params each source needs and
// those that do not apply to it, kinds and ranges; for a synthetic source
// without references, the generator's settings as a whole.
func (*Task) ValidateParams(m map[string]any) []tasks.ParamError {
	_, errs := parseParams(m, true)
	return errs
}

// schemes are the known source spellings, for suggestions.
var schemes = []string{"file", "http", "https", "sql", "synthetic"}

// parseSource classifies a source string.
func parseSource(s string, p *params) (key, msg, hint string) {
	scheme, rest, hasScheme := strings.Cut(s, "://")
	switch {
	case s == SourceSQL:
		p.Kind = SourceSQL
		return
	case s == SourceSynthetic:
		p.Kind = SourceSynthetic
		return
	case strings.HasPrefix(s, "file:"):
		path, why, how := filePath(s)
		if why != "" {
			return "source", why, how
		}
		p.Kind, p.Path = SourceFile, path
		return
	case hasScheme && (scheme == "http" || scheme == "https"):
		u, err := url.Parse(s)
		if err != nil {
			return "source", fmt.Sprintf("invalid URL: %v", err), ""
		}
		if u.Host == "" {
			return "source", "the URL has no host", "http://host:port/path/data.csv"
		}
		p.Kind, p.URL = SourceHTTP, u
		return
	case s == "":
		return "source", "empty source", "file:///PATH (file:PATH relative), http(s)://URL, sql or synthetic"
	}
	name := s
	if hasScheme {
		name = scheme
	}
	hint = "sources are file:///PATH (file:PATH relative), http(s)://URL, sql (with dsn and query) and synthetic"
	switch near := tasks.Nearest(name, schemes); {
	case !hasScheme && (strings.Contains(s, "/") || strings.Contains(s, ".")) && near == "":
		hint = fmt.Sprintf("for a file write %s", fileURL(s))
	case near == "file" && hasScheme:
		hint = fmt.Sprintf("did you mean %s?", fileURL(rest))
	case near != "" && hasScheme:
		hint = fmt.Sprintf("did you mean %s://%s?", near, rest)
	case near != "":
		hint = fmt.Sprintf("did you mean %s?", near)
	case scheme == "postgres" || scheme == "postgresql" || scheme == "sqlite":
		hint = fmt.Sprintf("for a database write source: sql, dsn: %q, query: \"SELECT ...\"", redactedDSN(s))
	}
	if hasScheme {
		return "source", fmt.Sprintf("unknown source scheme %q", scheme), hint
	}
	return "source", fmt.Sprintf("unknown source %q", s), hint
}

// fileURL is the file URL of path: file:///abs for an absolute one,
// file:rel for a relative one.
func fileURL(path string) string {
	if strings.HasPrefix(path, "/") {
		return "file://" + path
	}
	return "file:" + path
}

// fileHint is how a file source is written.
const fileHint = "file:///abs/path.csv (or file://localhost/abs/path.csv), or file:data/train.csv for a path relative to the working directory"

// filePath is the local path a file URL names, read as RFC 8089 reads
// it: file:///PATH and file://localhost/PATH name /PATH (the host empty
// or localhost, in any case; any other host is refused: collect reads
// local files only), file:/PATH names it too, and file:PATH (no
// slashes) a path relative to the working directory. Percent-escapes
// are decoded (%20 is a space, %25 a percent sign); a malformed one, or
// one that decodes to a NUL byte, is refused. msg says what is wrong.
func filePath(s string) (path, msg, hint string) {
	rest := strings.TrimPrefix(s, "file:")
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		host, p, found := strings.Cut(after, "/")
		switch {
		case !found && host == "":
			return "", "file:// needs a path", fileHint
		case !found:
			return "", fmt.Sprintf("file://%s has no path after its host %q", host, host), fileHint
		case host != "" && !strings.EqualFold(host, "localhost"):
			return "", fmt.Sprintf("file URL names the host %q: collect reads files of the machine running the task only (file:///PATH or file://localhost/PATH)", host),
				fmt.Sprintf("for the absolute path /%s write file:///%s; for %s/%s relative to the working directory write file:%s/%s", p, p, host, p, host, p)
		}
		rest = "/" + p
	}
	if rest == "" {
		return "", "file: needs a path", fileHint
	}
	path, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Sprintf("file URL %q: a %% starts a percent-escape of two hex digits (%%20 is a space, %%25 a percent sign): %v", s, err), "write a literal % as %25"
	}
	if strings.IndexByte(path, 0) >= 0 {
		return "", fmt.Sprintf("file URL %q: its path holds a NUL byte (%%00)", s), fileHint
	}
	return path, "", ""
}

// parseParams decodes and checks m. With allowRefs, strings holding ${{
// are accepted for any key, and the checks depending on them are skipped.
func parseParams(m map[string]any, allowRefs bool) (params, []tasks.ParamError) {
	p := params{MaxBytes: DefaultMaxBytes, Timeout: DefaultTimeout, Redirects: RedirectsSameOrigin, Generator: Classification, refs: map[string]bool{}}
	var errs []tasks.ParamError
	add := func(key, hint, format string, args ...any) {
		errs = append(errs, tasks.ParamError{Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	has := map[string]bool{}
	var (
		c = synthetic.Classification{Rows: DefaultRows, Features: DefaultFeatures}
		d synthetic.Drift
		r synthetic.Regression
		// at, drift_since and drift_per_day: a drift that grows with the
		// time the data stands for.
		at, since time.Time
		perDay    float64
	)
	for _, k := range keys {
		v := m[k]
		if k == "query" && allowRefs && tasks.IsRef(v) {
			// A reference in the query is spliced into the SQL text, where
			// a value can change what the statement does.
			add(k, "bind the value instead: args: [${{ params.x }}] with ? (SQLite) or $1 (PostgreSQL) in the query, or args: {x: ${{ params.x }}} with :x (SQLite) or @x (PostgreSQL)",
				"a ${{ }} reference inside query would be spliced into the SQL text (SQL injection): values reach a query only as bound parameters")
			has[k] = true
			continue
		}
		if allowRefs && tasks.IsRef(v) {
			p.refs[k], has[k] = true, true
			continue
		}
		switch k {
		case "source":
			s, ok := v.(string)
			if !ok {
				add(k, "file:///PATH (file:PATH relative), http(s)://URL, sql or synthetic", "want a string, got %s", tasks.Describe(v))
				break
			}
			p.Source = s
			if key, msg, hint := parseSource(s, &p); msg != "" {
				add(key, hint, "%s", msg)
			} else if allowRefs && p.URL != nil && hasPassword(p.URL) {
				add(k, passwordHint, "the URL holds a password, which every reader of the run would see (show, the API, its lineage): give it through a secret param")
			}
		case "format":
			s, ok := v.(string)
			if !ok || (s != FormatCSV && s != FormatJSONL) {
				add(k, "csv or jsonl (JSON Lines); leave it out to go by the file extension", "unknown format %s", tasks.Describe(v))
				break
			}
			p.Format = s
		case "max_bytes":
			n, ok := tasks.Integer(v)
			if !ok || n < 1 {
				add(k, fmt.Sprintf("a positive number of bytes; the default is %d (256 MiB)", DefaultMaxBytes), "want a positive integer, got %s", tasks.Describe(v))
				break
			}
			p.MaxBytes = n
		case "timeout":
			s, ok := v.(string)
			dur, err := time.ParseDuration(s)
			if !ok || err != nil || dur <= 0 {
				add(k, `a positive duration such as "30s" or "2m"`, "want a duration, got %s", tasks.Describe(v))
				break
			}
			p.Timeout = dur
		case "dsn", "query":
			s, ok := v.(string)
			if !ok || strings.TrimSpace(s) == "" {
				add(k, "", "want a non-empty string, got %s", tasks.Describe(v))
				break
			}
			if k == "dsn" {
				p.DSN = s
				if allowRefs && dsnHasPassword(s) {
					add(k, passwordHint, "the DSN holds a password, which every reader of the run would see (show, the API, its lineage): give it through a secret param")
				}
			} else {
				p.Query = s
			}
		case "redirects":
			s, ok := v.(string)
			if !ok || (s != RedirectsSameOrigin && s != RedirectsAny && s != RedirectsNone) {
				add(k, "same_origin (the default: follow redirects within the URL's scheme, host and port), any, or none", "unknown redirects %s", tasks.Describe(v))
				break
			}
			p.Redirects = s
		case "args":
			for _, e := range parseArgs(v, allowRefs, &p) {
				add(k, argsHint, "%s", e)
			}
		case "generator":
			s, ok := v.(string)
			if !ok || (s != Classification && s != Regression) {
				hint := "classification or regression"
				if s, ok := v.(string); ok {
					if near := tasks.Nearest(s, []string{Classification, Regression}); near != "" {
						hint = fmt.Sprintf("did you mean %s?", near)
					}
				}
				add(k, hint, "unknown generator %s", tasks.Describe(v))
				break
			}
			p.Generator = s
		case "rows", "features", "informative", "classes", "drift_features":
			n, ok := tasks.Integer(v)
			if !ok || n < 0 || (n == 0 && k != "drift_features") {
				add(k, "", "want a positive integer, got %s", tasks.Describe(v))
				break
			}
			switch k {
			case "rows":
				c.Rows = int(n)
			case "features":
				c.Features = int(n)
			case "informative":
				c.Informative = int(n)
			case "classes":
				c.Classes = int(n)
			default:
				d.Features = int(n)
			}
		case "weights":
			l, ok := v.([]any)
			if !ok {
				add(k, "one non-negative number per class, for example [0.9, 0.1]", "want a list of numbers, got %s", tasks.Describe(v))
				break
			}
			c.Weights = make([]float64, len(l))
			for i, w := range l {
				f, ok := tasks.Number(w)
				if !ok || f < 0 {
					add(k, "one non-negative number per class, for example [0.9, 0.1]", "item %d: want a non-negative number, got %s", i, tasks.Describe(w))
				}
				c.Weights[i] = f
			}
		case "class_sep", "label_noise", "noise", "missing_rate", "drift_shift", "drift_scale":
			f, ok := tasks.Number(v)
			if !ok {
				add(k, "", "want a number, got %s", tasks.Describe(v))
				break
			}
			switch k {
			case "class_sep":
				c.ClassSep = f
				if f <= 0 {
					add(k, "", "want a positive number, got %v", f)
				}
			case "label_noise":
				c.FlipY = f
			case "noise":
				r.Noise = f
			case "missing_rate":
				c.MissingRate = f
			case "drift_shift":
				d.Shift = f
			default:
				d.Scale = f
				if f <= 0 {
					add(k, "1 for none", "want a positive number, got %v", f)
				}
			}
		case "label":
			s, ok := v.(string)
			if !ok || s == "" {
				add(k, "", "want a column name, got %s", tasks.Describe(v))
				break
			}
			c.Label = s
		case "seed":
			s, ok := tasks.Integer(v)
			if !ok || s < 0 {
				add(k, "", "want a non-negative integer, got %s", tasks.Describe(v))
				break
			}
			c.Seed = uint64(s)
		case "at", "drift_since":
			t, ok := parseTime(v)
			if !ok {
				add(k, `for example "2026-01-31" or "2026-01-31T06:00:00Z"`, "want a date or an RFC 3339 time, got %s", tasks.Describe(v))
				break
			}
			if k == "at" {
				if t.Unix() < 1 {
					add(k, "", "want a time after 1970-01-01, got %s", tasks.Describe(v))
					break
				}
				at = t
			} else {
				since = t
			}
		case "drift_per_day":
			f, ok := tasks.Number(v)
			if !ok {
				add(k, "", "want a number, got %s", tasks.Describe(v))
				break
			}
			perDay = f
		case "sample":
			s, ok := tasks.Integer(v)
			if !ok || s < 0 {
				add(k, "0 is the seed's own rows", "want a non-negative integer, got %s", tasks.Describe(v))
				break
			}
			c.Sample = uint64(s)
		default:
			hint := "params are " + strings.Join(paramNames, ", ")
			if near := tasks.Nearest(k, paramNames); near != "" {
				hint = fmt.Sprintf("did you mean %s?", near)
			}
			add(k, hint, "unknown param")
			continue
		}
		has[k] = true
	}
	if has["drift_per_day"] && !p.refs["drift_per_day"] {
		for _, k := range []string{"at", "drift_since"} {
			if !has[k] {
				add("drift_per_day", `for example at: "${{ params.day }}", drift_since: "2026-01-01"`, "needs %s: the drift grows by drift_per_day for each day from drift_since to at", k)
			}
		}
	}
	if !at.IsZero() {
		if !has["sample"] {
			// Each time is a sample of its own: other rows.
			c.Sample = uint64(at.Unix())
		}
		if !since.IsZero() && perDay != 0 && at.After(since) {
			d.Shift += perDay * at.Sub(since).Hours() / 24
		}
	}
	c.Drift = d
	r.Rows, r.Features, r.Informative, r.MissingRate, r.Drift, r.Label, r.Seed, r.Sample = c.Rows, c.Features, c.Informative, c.MissingRate, d, c.Label, c.Seed, c.Sample
	p.Class, p.Reg = c, r

	if !has["source"] {
		add("source", "file:///PATH (file:PATH relative), http(s)://URL, sql or synthetic", "required")
	}
	if p.refs["source"] || p.Kind == "" {
		return p, errs
	}
	// Params that do not apply to the source.
	for _, k := range keys {
		where, ok := applies[k]
		if !ok {
			continue
		}
		kind := p.Kind
		if where == Classification || where == Regression {
			if kind != SourceSynthetic {
				add(k, fmt.Sprintf("leave it out, or use source: synthetic with generator: %s", where), "applies to the synthetic source's %s generator only (source is %s)", where, kind)
			} else if !p.refs["generator"] && p.Generator != where {
				add(k, fmt.Sprintf("set generator: %s, or leave %s out", where, k), "applies to generator %s only (generator is %s)", where, p.Generator)
			}
			continue
		}
		if !strings.Contains(where, kind) {
			add(k, "leave it out", "applies to the %s source only (source is %s)", where, kind)
		}
	}
	switch p.Kind {
	case SourceSQL:
		for _, k := range []string{"dsn", "query"} {
			if !has[k] {
				add(k, `for example dsn: "sqlite:data/shop.db", query: "SELECT * FROM orders"`, "required for source sql")
			}
		}
	case SourceSynthetic:
		if len(p.refs) == 0 && len(errs) == 0 {
			var err error
			if p.Generator == Regression {
				err = p.Reg.Check()
			} else {
				err = p.Class.Check()
			}
			if err != nil {
				add("", "", "synthetic %s: %v", p.Generator, err)
			}
		}
	}
	return p, errs
}

// parseTime reads a date (2006-01-02, midnight UTC) or an RFC 3339 time.
func parseTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

const argsHint = "a list, bound in order to ? or ?N (SQLite) and $1, $2, ... (PostgreSQL); or a map, bound by name to :name (SQLite) and @name (PostgreSQL); values are strings, numbers, booleans or null, or a ${{ }} reference to one"

// argName is the form of a named arg: what both drivers accept.
var argName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// parseArgs reads the args param into p.Args or p.Named, returning its
// problems. With allowRefs, a value that is a ${{ }} reference is left to
// run time (when it is a string, a number, a boolean or null like any
// other).
func parseArgs(v any, allowRefs bool, p *params) []string {
	var errs []string
	value := func(where string, x any) any {
		if allowRefs && tasks.IsRef(x) {
			return x
		}
		b, err := bindValue(x)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", where, err))
		}
		return b
	}
	switch a := v.(type) {
	case []any:
		p.Args = make([]any, len(a))
		for i, x := range a {
			p.Args[i] = value(fmt.Sprintf("item %d", i), x)
		}
	case map[string]any:
		p.Named = make(map[string]any, len(a))
		for name, x := range a {
			if !argName().MatchString(name) {
				errs = append(errs, fmt.Sprintf("name %q: want letters, digits and _ (not first a digit), as in :name / @name", name))
			}
			p.Named[name] = value(fmt.Sprintf("%q", name), x)
		}
		sort.Strings(errs) // map order
	default:
		errs = append(errs, fmt.Sprintf("want a list or a map of values, got %s", tasks.Describe(v)))
	}
	return errs
}

// bindValue converts a param value into what a query binds: nil, bool,
// int64 (a whole number), float64 or string. Lists, maps and non-finite
// numbers are refused.
func bindValue(x any) (any, error) {
	switch v := x.(type) {
	case nil, bool, string:
		return v, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
	}
	if i, ok := wholeNumber(x); ok {
		return i, nil
	}
	if f, ok := tasks.Number(x); ok {
		return f, nil
	}
	return nil, fmt.Errorf("want a string, a number, a boolean or null, got %s", tasks.Describe(x))
}

// wholeNumber returns x as an int64 when it is a Go integer.
func wholeNumber(x any) (int64, bool) {
	switch v := x.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	}
	return 0, false
}

// passwordHint says how a password reaches a source without being
// written in the workflow (and so stored with every run).
const passwordHint = "declare a secret param (params: {pw: {type: string, secret: true}}, its value given as CAIRN_PARAM_PW in the environment) and write ${{ params.pw }} where the password goes: it is then never stored or shown"

// hasPassword reports whether u carries a password in its user info.
func hasPassword(u *url.URL) bool {
	if u.User == nil {
		return false
	}
	_, ok := u.User.Password()
	return ok
}

// dsnHasPassword reports whether a DSN written in a workflow holds a
// password: in a URL's user info or query (postgres://u:pw@h/db,
// ?password=), or as a key=value setting (host=h password=pw).
func dsnHasPassword(s string) bool {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		return hasPassword(u) || u.Query().Has("password")
	}
	for _, f := range strings.Fields(s) {
		if k, _, ok := strings.Cut(f, "="); ok && strings.EqualFold(strings.TrimSpace(k), "password") {
			return true
		}
	}
	return false
}

// redactedDSN hides a URL-shaped DSN's password.
func redactedDSN(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}
