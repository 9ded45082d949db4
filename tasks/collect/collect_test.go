package collect_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/collect"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/tasktest"
)

func abs(t testing.TB, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// canonical is what collect must store for a CSV: dataset's own reading
// and writing of it.
func canonical(t testing.TB, raw []byte) []byte {
	t.Helper()
	f, err := dataset.ReadCSV(bytes.NewReader(raw), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := dataset.WriteCSV(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// data returns the bytes of the data output, checking its media type.
func data(t *testing.T, a tasktest.Attempt) []byte {
	t.Helper()
	ref, ok := cairn.AsArtifactRef(a.Result.Outputs["data"])
	if !ok {
		t.Fatalf("data output %s is not an artifact", a.Result.Outputs["data"])
	}
	if ref.MediaType != collect.MediaType {
		t.Errorf("data media type %q", ref.MediaType)
	}
	rc, err := a.Env.Artifacts.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func schema(t *testing.T, a tasktest.Attempt) dataset.Schema {
	t.Helper()
	var s dataset.Schema
	if err := json.Unmarshal(a.Result.Outputs["schema"], &s); err != nil {
		t.Fatalf("schema output %s: %v", a.Result.Outputs["schema"], err)
	}
	return s
}

func wantLog(parts ...string) func(*testing.T, tasktest.Attempt) {
	return func(t *testing.T, a tasktest.Attempt) {
		t.Helper()
		for _, p := range parts {
			if !bytes.Contains(a.Log, []byte(p)) {
				t.Errorf("log lacks %q:\n%s", p, a.Log)
			}
		}
	}
}

func all(checks ...func(*testing.T, tasktest.Attempt)) func(*testing.T, tasktest.Attempt) {
	return func(t *testing.T, a tasktest.Attempt) {
		t.Helper()
		for _, c := range checks {
			c(t, a)
		}
	}
}

var peopleKinds = map[string]dataset.Kind{
	"id": dataset.Numeric, "name": dataset.Categorical, "member": dataset.Categorical, // yes/no, kept as written
	"joined": dataset.Datetime, "score": dataset.Numeric,
}

func checkPeople(t *testing.T, a tasktest.Attempt) {
	t.Helper()
	s := schema(t, a)
	if s.Rows != 5 || len(s.Columns) != 5 {
		t.Fatalf("schema %+v", s)
	}
	missing := map[string]int{"member": 1, "joined": 1, "score": 1}
	for _, c := range s.Columns {
		if c.Kind != peopleKinds[c.Name] {
			t.Errorf("column %s: kind %s, want %s", c.Name, c.Kind, peopleKinds[c.Name])
		}
		if c.Missing != missing[c.Name] {
			t.Errorf("column %s: %d missing, want %d", c.Name, c.Missing, missing[c.Name])
		}
	}
	if got := data(t, a); !bytes.Equal(got, canonical(t, readFile(t, "testdata/people.csv"))) {
		t.Errorf("data:\n%s", got)
	} else if !bytes.Contains(got, []byte("1,ann,yes,")) || !bytes.Contains(got, []byte("2,bob,no,")) {
		t.Errorf("member's yes/no not kept as written:\n%s", got)
	}
	if string(a.Result.Outputs["rows"]) != "5" || string(a.Result.Outputs["columns"]) != "5" {
		t.Errorf("rows %s columns %s", a.Result.Outputs["rows"], a.Result.Outputs["columns"])
	}
	if a.Result.Metrics["missing_values"] != 3 || a.Result.Metrics["rows"] != 5 {
		t.Errorf("metrics %v", a.Result.Metrics)
	}
	wantLog("5 rows × 5 columns", "3 missing values", "joined", "datetime", "member", "categorical")(t, a)
}

func TestFileSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jsonlAsTxt := write("people.txt", readFile(t, "testdata/people.jsonl"))
	png := write("image.csv", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	gz := write("data.csv", []byte{0x1f, 0x8b, 8, 0, 0, 0})
	jsonInCSV := write("wrong.csv", readFile(t, "testdata/people.jsonl"))
	src := func(p string) map[string]any {
		if filepath.IsAbs(p) {
			return map[string]any{"source": "file://" + p}
		}
		return map[string]any{"source": "file:" + p}
	}
	iris := abs(t, "../ml/dataset/testdata/iris.csv")
	withNaN := write("nan.csv", []byte("x,y\n1,0\n2,1\nNaN,0\n"))

	tasktest.Run(t, collect.New(collect.Options{}),
		tasktest.Case{
			Name: "csv-absolute", Params: src(abs(t, "testdata/people.csv")), Want: tasktest.Succeeds,
			Check: all(checkPeople, wantLog("people.csv", "CSV", "sha256:")),
		},
		tasktest.Case{
			Name: "csv-relative", Params: src("testdata/people.csv"), Want: tasktest.Succeeds,
			Check: checkPeople,
		},
		tasktest.Case{
			Name: "jsonl-by-extension", Params: src(abs(t, "testdata/people.jsonl")), Want: tasktest.Succeeds,
			Check: all(checkPeople, wantLog("JSON Lines")),
		},
		tasktest.Case{
			Name: "jsonl-by-format", Params: map[string]any{"source": "file://" + jsonlAsTxt, "format": "jsonl"}, Want: tasktest.Succeeds,
			Check: checkPeople,
		},
		tasktest.Case{
			Name: "iris", Params: src(iris), Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := data(t, a); !bytes.Equal(got, canonical(t, readFile(t, iris))) {
					t.Error("iris data differs from dataset's canonical CSV")
				}
				s := schema(t, a)
				if s.Rows != 150 || s.Columns[4].Kind != dataset.Categorical || s.Columns[4].Distinct != 3 {
					t.Errorf("schema %+v", s)
				}
			},
		},
		// A NaN is kept as written, not turned into a missing value that
		// train would impute in silence: the column reads as categorical,
		// which the schema shows and train reports, naming the value.
		tasktest.Case{
			Name: "nan-kept", Params: src(withNaN), Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := string(data(t, a)); got != "x,y\n1,0\n2,1\nNaN,0\n" {
					t.Errorf("data = %q", got)
				}
				if s := schema(t, a); s.Columns[0].Kind != dataset.Categorical || s.Columns[0].Missing != 0 {
					t.Errorf("schema of x: %+v", s.Columns[0])
				}
			},
		},
		tasktest.Case{
			Name: "missing-file", Params: src("testdata/nope.csv"), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("nope.csv does not exist", "working directory"),
		},
		tasktest.Case{
			Name: "directory", Params: src(dir), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("is a directory"),
		},
		tasktest.Case{
			Name: "ragged", Params: src("testdata/ragged.csv"), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("not valid CSV", "line 4", "2 fields, the header has 3"),
		},
		tasktest.Case{
			Name: "header-only", Params: src("testdata/header_only.csv"), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("has a header (a, b, c) but no rows"),
		},
		tasktest.Case{
			Name: "binary", Params: src(png), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("not a text file"),
		},
		tasktest.Case{
			Name: "gzip", Params: src(gz), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("gzip-compressed"),
		},
		tasktest.Case{
			Name: "jsonl-named-csv", Params: src(jsonInCSV), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("is not CSV", "set format: jsonl"),
		},
		tasktest.Case{
			Name: "over-limit", Params: map[string]any{"source": "file://" + iris, "max_bytes": 100}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("over the limit of 100", "max_bytes"),
		},
		tasktest.Case{
			Name: "tsv", Params: src("testdata/x.tsv"), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("tab-separated"),
		},
	)
}

func TestDeterministicBytes(t *testing.T) {
	// The same rows from CSV and from JSON Lines, and the same source
	// twice, give the same data digest.
	run := func(params map[string]any) cairn.ArtifactRef {
		env, _ := tasktest.Env(t)
		raw, _ := json.Marshal(params)
		res, err := collect.New(collect.Options{}).Run(context.Background(), tasktest.Request(t, raw), env)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := cairn.AsArtifactRef(res.Outputs["data"])
		return ref
	}
	a := run(map[string]any{"source": "file:testdata/people.csv"})
	b := run(map[string]any{"source": "file:testdata/people.csv"})
	c := run(map[string]any{"source": "file:testdata/people.jsonl"})
	if a.Digest != b.Digest || a.Digest != c.Digest {
		t.Errorf("digests %s %s %s", a.Digest, b.Digest, c.Digest)
	}
	s1 := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 5, "missing_rate": 0.1, "weights": []float64{3, 1}})
	s2 := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 5, "missing_rate": 0.1, "weights": []float64{3, 1}})
	s3 := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 6, "missing_rate": 0.1, "weights": []float64{3, 1}})
	if s1.Digest != s2.Digest || s1.Digest == s3.Digest {
		t.Errorf("synthetic digests %s %s %s", s1.Digest, s2.Digest, s3.Digest)
	}
	s4 := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 5, "missing_rate": 0.1, "weights": []float64{3, 1}, "sample": 0})
	s5 := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 5, "missing_rate": 0.1, "weights": []float64{3, 1}, "sample": 2})
	s6 := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 5, "missing_rate": 0.1, "weights": []float64{3, 1}, "sample": 2})
	if s4.Digest != s1.Digest || s5.Digest == s1.Digest || s5.Digest != s6.Digest {
		t.Errorf("samples: %s %s %s", s4.Digest, s5.Digest, s6.Digest)
	}
	// A drift that grows with the time the data stands for: two days at
	// 0.5 a day is a shift of 1, and the time is the sample.
	at := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	grown := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 5, "at": "2026-01-03", "drift_since": "2026-01-01T00:00:00Z", "drift_per_day": 0.5, "drift_features": 2})
	fixed := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 5, "sample": at.Unix(), "drift_shift": 1, "drift_features": 2})
	before := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 5, "at": "2026-01-03", "drift_since": "2026-02-01", "drift_per_day": 0.5, "drift_features": 2})
	undrifted := run(map[string]any{"source": "synthetic", "rows": 300, "seed": 5, "sample": at.Unix()})
	if grown.Digest != fixed.Digest || before.Digest != undrifted.Digest || grown.Digest == undrifted.Digest {
		t.Errorf("drift per day: %s %s, before it starts: %s %s", grown.Digest, fixed.Digest, before.Digest, undrifted.Digest)
	}
}

func TestHTTPSource(t *testing.T) {
	people := readFile(t, "testdata/people.csv")
	peopleJSONL := readFile(t, "testdata/people.jsonl")
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/people.csv", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		w.Write(people)
	})
	mux.HandleFunc("/export", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write(peopleJSONL)
	})
	mux.HandleFunc("/missing.csv", http.NotFound)
	mux.HandleFunc("/down.csv", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/busy.csv", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slow down", http.StatusTooManyRequests)
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<html><body>login</body></html>")
	})
	mux.HandleFunc("/stream.csv", func(w http.ResponseWriter, r *http.Request) {
		// no Content-Length: the limit must hold while reading
		w.Header().Set("Content-Type", "text/csv")
		io.WriteString(w, "a,b\n")
		for i := range 2000 {
			fmt.Fprintf(w, "%d,%d\n", i, i)
			if i%100 == 0 {
				w.(http.Flusher).Flush()
			}
		}
	})
	mux.HandleFunc("/slow.csv", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	get := func(path string) map[string]any { return map[string]any{"source": srv.URL + path} }
	tasktest.Run(t, collect.New(collect.Options{}),
		tasktest.Case{
			Name: "csv", Params: get("/people.csv"), Want: tasktest.Succeeds,
			Check: all(checkPeople, wantLog("200 OK", "text/csv")),
		},
		tasktest.Case{
			Name: "jsonl-by-content-type", Params: get("/export"), Want: tasktest.Succeeds,
			Check: all(checkPeople, wantLog("JSON Lines")),
		},
		tasktest.Case{
			Name: "query-string-hidden", Params: get("/people.csv?token=s3cret"), Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if bytes.Contains(a.Log, []byte("s3cret")) {
					t.Errorf("log shows the query string:\n%s", a.Log)
				}
			},
		},
		tasktest.Case{
			Name: "not-found", Params: get("/missing.csv"), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("404 Not Found", "/missing.csv"),
		},
		tasktest.Case{
			Name: "unavailable", Params: get("/down.csv"), Want: tasktest.FailsRetryable,
			Check: tasktest.ErrorMentions("503 Service Unavailable"),
		},
		tasktest.Case{
			Name: "too-many-requests", Params: get("/busy.csv"), Want: tasktest.FailsRetryable,
			Check: tasktest.ErrorMentions("429"),
		},
		tasktest.Case{
			Name: "web-page", Params: get("/page"), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("web page (text/html)"),
		},
		tasktest.Case{
			Name: "content-length-over-limit", Params: map[string]any{"source": srv.URL + "/people.csv", "max_bytes": 20}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("over the limit of 20"),
		},
		tasktest.Case{
			Name: "stream-over-limit", Params: map[string]any{"source": srv.URL + "/stream.csv", "max_bytes": 5000}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("over the limit of 5000 bytes"),
		},
		tasktest.Case{
			Name: "timeout", Params: map[string]any{"source": srv.URL + "/slow.csv", "timeout": "200ms"}, Want: tasktest.FailsRetryable,
			Check: tasktest.ErrorMentions("within the timeout of 200ms"),
		},
		tasktest.Case{
			// The issue: an unreachable source is a clear error, not retried.
			Name: "refused", Params: map[string]any{"source": deadURL + "/x.csv"}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("unreachable", "connection refused"),
		},
		tasktest.Case{
			// The query may hold a token: the error (shown to every
			// reader of the run) names the URL without it, and does not
			// repeat it through Go's url.Error text.
			Name: "refused-query-hidden", Params: map[string]any{"source": deadURL + "/x.csv?token=s3cr3tq"}, Want: tasktest.FailsPermanent,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if a.Err == nil || strings.Contains(a.Err.Error(), "s3cr3tq") || !strings.Contains(a.Err.Error(), "unreachable") {
					t.Errorf("error %v: want it unreachable, without the query's token", a.Err)
				}
			},
		},
		tasktest.Case{
			Name: "blocks-until-cancelled", Params: map[string]any{"source": srv.URL + "/slow.csv", "timeout": "1m"}, Want: tasktest.Blocks,
			Delay: 200 * time.Millisecond,
		},
	)
}

// querier is a fake of the narrow SQLQuerier seam: it returns fixed rows.
// The real one (store/sqlsource) runs in TestSQLSourceSQLite.
type querier struct {
	cols []string
	rows [][]sql.NullString
	err  error
	got  []string
}

func (q *querier) Query(ctx context.Context, dsn, query string, args []any, named map[string]any, maxBytes int64) ([]string, [][]sql.NullString, error) {
	q.got = append(q.got, dsn, query, fmt.Sprint(maxBytes), fmt.Sprintf("%#v %#v", args, named))
	return q.cols, q.rows, q.err
}

func ns(vals ...any) []sql.NullString {
	out := make([]sql.NullString, len(vals))
	for i, v := range vals {
		if v != nil {
			out[i] = sql.NullString{String: v.(string), Valid: true}
		}
	}
	return out
}

func TestSQLSourceConversion(t *testing.T) {
	sqlParams := map[string]any{"source": "sql", "dsn": "postgres://u:pw@db/x", "query": "SELECT 1"}
	good := &querier{
		cols: []string{"id", "note", "flag", "day"},
		rows: [][]sql.NullString{
			ns("1", "line one\nline two", "true", "2024-01-02T00:00:00Z"),
			ns("2", nil, "false", nil),
			ns("3", `quote " and, comma`, nil, "2024-01-03T00:00:00Z"),
		},
	}
	run := func(t *testing.T, q collect.SQLQuerier, want tasktest.Outcome, check func(*testing.T, tasktest.Attempt)) {
		// The DSN as a run resolves it, its password from a secret param.
		tasktest.Run(t, collect.New(collect.Options{SQL: q}), tasktest.Case{Name: "run", Params: sqlParams, Want: want, Check: check, Resolved: true})
	}
	t.Run("types-and-nulls", func(t *testing.T) {
		run(t, good, tasktest.Succeeds, func(t *testing.T, a tasktest.Attempt) {
			s := schema(t, a)
			kinds := []dataset.Kind{dataset.Numeric, dataset.Categorical, dataset.Boolean, dataset.Datetime}
			missing := []int{0, 1, 1, 1}
			for j, c := range s.Columns {
				if c.Kind != kinds[j] || c.Missing != missing[j] {
					t.Errorf("column %s: %s with %d missing, want %s with %d", c.Name, c.Kind, c.Missing, kinds[j], missing[j])
				}
			}
			want := "id,note,flag,day\n1,\"line one\nline two\",true,2024-01-02T00:00:00Z\n2,,false,\n3,\"quote \"\" and, comma\",,2024-01-03T00:00:00Z\n"
			if got := data(t, a); string(got) != want {
				t.Errorf("data:\n%s\nwant:\n%s", got, want)
			}
			if bytes.Contains(a.Log, []byte(":pw@")) {
				t.Errorf("log shows the DSN's password:\n%s", a.Log)
			}
		})
		if good.got[0] != "postgres://u:pw@db/x" || good.got[1] != "SELECT 1" || good.got[2] != fmt.Sprint(collect.DefaultMaxBytes) {
			t.Errorf("querier called with %q", good.got)
		}
	})
	t.Run("duplicate-columns", func(t *testing.T) {
		run(t, &querier{cols: []string{"a", "a"}, rows: [][]sql.NullString{ns("1", "2")}}, tasktest.FailsPermanent,
			tasktest.ErrorMentions(`columns 1 and 2 are both named "a"`, "AS"))
	})
	t.Run("no-rows", func(t *testing.T) {
		run(t, &querier{cols: []string{"a"}}, tasktest.FailsPermanent, tasktest.ErrorMentions("has no rows (columns a)"))
	})
	t.Run("infinite-value-names-row", func(t *testing.T) {
		run(t, &querier{cols: []string{"x"}, rows: [][]sql.NullString{ns("1"), ns("2"), ns("+Inf")}}, tasktest.FailsPermanent,
			tasktest.ErrorMentions(`row 3, column "x"`, "infinite"))
	})
	t.Run("querier-errors-keep-their-kind", func(t *testing.T) {
		run(t, &querier{err: cairn.Permanentf("sql x: no such table")}, tasktest.FailsPermanent, tasktest.ErrorMentions("no such table"))
		run(t, &querier{err: fmt.Errorf("sql x: connection refused")}, tasktest.FailsRetryable, tasktest.ErrorMentions("connection refused"))
	})
	t.Run("no-querier", func(t *testing.T) {
		run(t, nil, tasktest.FailsPermanent, tasktest.ErrorMentions("no SQL support"))
	})
}

func TestSynthetic(t *testing.T) {
	tasktest.Run(t, collect.New(collect.Options{}),
		tasktest.Case{
			Name: "classification-defaults", Params: map[string]any{"source": "synthetic"}, Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				s := schema(t, a)
				if s.Rows != 1000 || len(s.Columns) != 11 || s.Columns[10].Name != "label" {
					t.Fatalf("schema %+v", s)
				}
				if c := s.Columns[10]; c.Min != 0 || c.Max != 1 || c.Mean != 0.5 {
					t.Errorf("label %+v, want balanced 0/1", c)
				}
				wantLog("synthetic classification: 1000 rows, 10 features (5 informative), 2 classes")(t, a)
			},
		},
		tasktest.Case{
			Name: "imbalanced-drifted",
			Params: map[string]any{"source": "synthetic", "rows": 2000, "features": 4, "classes": 3, "weights": []any{0.8, 0.15, 0.05},
				"missing_rate": 0.1, "drift_shift": 5, "drift_features": 1, "seed": 11, "label": "y"},
			Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				f, err := dataset.ReadCSV(bytes.NewReader(data(t, a)), dataset.ReadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				y, _ := f.Col("y")
				counts := map[float64]int{}
				for _, v := range y.Num {
					counts[v]++
				}
				if counts[0] != 1600 || counts[1] != 300 || counts[2] != 100 {
					t.Errorf("class counts %v", counts)
				}
				s := schema(t, a)
				if s.Columns[0].Mean < 4 || s.Columns[1].Mean > 1 || s.Columns[0].Missing < 150 {
					t.Errorf("drift or missing values not applied: %+v", s.Columns[:2])
				}
			},
		},
		tasktest.Case{
			Name: "regression", Params: map[string]any{"source": "synthetic", "generator": "regression", "rows": 50, "features": 3, "noise": 0.5},
			Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				s := schema(t, a)
				if s.Rows != 50 || s.Columns[3].Name != "target" || s.Columns[3].Kind != dataset.Numeric {
					t.Errorf("schema %+v", s)
				}
			},
		},
		tasktest.Case{Name: "too-few-informative", Params: map[string]any{"source": "synthetic", "classes": 3, "informative": 1}, InvalidParams: true,
			Check: tasktest.ErrorMentions("informative")},
		tasktest.Case{Name: "weights-length", Params: map[string]any{"source": "synthetic", "weights": []any{1, 2, 3}}, InvalidParams: true,
			Check: tasktest.ErrorMentions("3 weights for 2 classes")},
		tasktest.Case{Name: "noise-on-classification", Params: map[string]any{"source": "synthetic", "noise": 1}, InvalidParams: true,
			Check: tasktest.ErrorMentions("noise", "generator regression only")},
		tasktest.Case{Name: "negative-sample", Params: map[string]any{"source": "synthetic", "sample": -1}, InvalidParams: true,
			Check: tasktest.ErrorMentions("sample", "non-negative integer")},
		tasktest.Case{Name: "drift-per-day-alone", Params: map[string]any{"source": "synthetic", "drift_per_day": 0.1}, InvalidParams: true,
			Check: tasktest.ErrorMentions("needs at", "needs drift_since")},
		tasktest.Case{Name: "bad-at", Params: map[string]any{"source": "synthetic", "at": "yesterday"}, InvalidParams: true,
			Check: tasktest.ErrorMentions("want a date or an RFC 3339 time")},
		tasktest.Case{Name: "at-on-a-file", Params: map[string]any{"source": "file:x.csv", "at": "2026-01-01"}, InvalidParams: true,
			Check: tasktest.ErrorMentions("applies to the synthetic source only")},
		tasktest.Case{Name: "unknown-generator", Params: map[string]any{"source": "synthetic", "generator": "regresion"}, InvalidParams: true,
			Check: tasktest.ErrorMentions("unknown generator", "did you mean regression?")},
	)
}

func TestInvalidParams(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		key    string
		parts  []string
	}{
		{"no-source", map[string]any{}, "source", []string{"required"}},
		{"unknown-scheme", map[string]any{"source": "s3://bucket/x.csv"}, "source", []string{`unknown source scheme "s3"`, "file:///PATH"}},
		{"typo-scheme", map[string]any{"source": "flie://data.csv"}, "source", []string{"did you mean file:data.csv?"}},
		{"typo-synthetic", map[string]any{"source": "synthetc"}, "source", []string{"did you mean synthetic?"}},
		{"bare-path", map[string]any{"source": "data/train.csv"}, "source", []string{"write file:data/train.csv"}},
		{"dsn-as-source", map[string]any{"source": "postgres://u:pw@h/db"}, "source", []string{"source: sql", "dsn"}},
		{"sql-without-query", map[string]any{"source": "sql", "dsn": "sqlite:x.db"}, "query", []string{"required for source sql"}},
		{"query-on-file", map[string]any{"source": "file:x.csv", "query": "SELECT 1"}, "query", []string{"applies to the sql source only"}},
		{"rows-on-http", map[string]any{"source": "http://h/x.csv", "rows": 5}, "rows", []string{"applies to the synthetic source only"}},
		{"bad-format", map[string]any{"source": "file:x", "format": "parquet"}, "format", []string{"unknown format"}},
		{"bad-timeout", map[string]any{"source": "http://h/x", "timeout": "soon"}, "timeout", []string{"want a duration"}},
		{"unknown-param", map[string]any{"source": "synthetic", "rwos": 5}, "rwos", []string{"unknown param", "did you mean rows?"}},
		{"no-host", map[string]any{"source": "http:///x.csv"}, "source", []string{"no host"}},
		{"negative-max-bytes", map[string]any{"source": "file:x.csv", "max_bytes": -1}, "max_bytes", []string{"positive integer"}},
		// Issue 14: a -p value spliced into the SQL text could change the statement.
		{"query-reference", map[string]any{"source": "sql", "dsn": "sqlite:x.db", "query": "SELECT * FROM t WHERE name = '${{ params.name }}'"}, "query",
			[]string{"spliced into the SQL text", "bound parameters", "args: [${{ params.x }}]", "$1", ":x", "@x"}},
		{"query-whole-reference", map[string]any{"source": "sql", "dsn": "sqlite:x.db", "query": "${{ params.q }}"}, "query", []string{"spliced into the SQL text"}},
		{"args-not-list-or-map", map[string]any{"source": "sql", "dsn": "sqlite:x.db", "query": "SELECT ?", "args": "fr"}, "args", []string{"want a list or a map", "?N"}},
		{"args-nested", map[string]any{"source": "sql", "dsn": "sqlite:x.db", "query": "SELECT ?", "args": []any{[]any{1}}}, "args", []string{"item 0", "want a string, a number, a boolean or null"}},
		{"args-bad-name", map[string]any{"source": "sql", "dsn": "sqlite:x.db", "query": "SELECT :a", "args": map[string]any{"1a": 1}}, "args", []string{`name "1a"`}},
		{"args-map-value", map[string]any{"source": "sql", "dsn": "sqlite:x.db", "query": "SELECT :a", "args": map[string]any{"a": map[string]any{"b": 1}}}, "args", []string{`"a": want a string`}},
		{"args-on-file", map[string]any{"source": "file:x.csv", "args": []any{1}}, "args", []string{"applies to the sql source only"}},
		{"bad-redirects", map[string]any{"source": "http://h/x.csv", "redirects": "all"}, "redirects", []string{"unknown redirects", "same_origin", "any", "none"}},
		{"redirects-on-sql", map[string]any{"source": "sql", "dsn": "sqlite:x.db", "query": "SELECT 1", "redirects": "any"}, "redirects", []string{"applies to the http source only"}},
	}
	task := collect.New(collect.Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, _ := json.Marshal(c.params)
			var wire map[string]any
			json.Unmarshal(raw, &wire)
			errs := task.ValidateParams(wire)
			var hit *tasks.ParamError
			for i := range errs {
				if errs[i].Key == c.key {
					hit = &errs[i]
				}
			}
			if hit == nil {
				t.Fatalf("ValidateParams(%v) = %v, want an error on %q", c.params, errs, c.key)
			}
			text := hit.Msg + " " + hit.Hint
			for _, p := range c.parts {
				if !strings.Contains(text, p) {
					t.Errorf("%q lacks %q", text, p)
				}
			}
			if strings.Contains(text, "pw@") {
				t.Errorf("message shows a password: %q", text)
			}
			// Run refuses the same params, permanently.
			env, _ := tasktest.Env(t)
			_, err := task.Run(context.Background(), tasktest.Request(t, raw), env)
			if err == nil || cairn.IsRetryable(err) {
				t.Errorf("Run: %v, want a permanent error", err)
			}
		})
	}
	// A password written in the workflow would be stored with every run
	// and shown to every reader: refused as written, with the way to give
	// it (a secret param); a reference to one is fine, and at run time,
	// once resolved, so is the password.
	for _, c := range []struct{ key, value string }{
		{"source", "http://bob:hunter2@127.0.0.1:8080/iris.csv"},
		{"dsn", "postgres://bob:hunter2@db:5432/shop?sslmode=disable"},
		{"dsn", "postgres://db:5432/shop?password=hunter2"},
		{"dsn", "host=db dbname=shop password=hunter2"},
	} {
		m := map[string]any{"source": c.value}
		if c.key == "dsn" {
			m = map[string]any{"source": "sql", "query": "SELECT 1", "dsn": c.value}
		}
		errs := task.ValidateParams(m)
		if len(errs) != 1 || errs[0].Key != c.key || !strings.Contains(errs[0].Msg, "holds a password") ||
			!strings.Contains(errs[0].Hint, "secret: true") || strings.Contains(errs[0].Msg+errs[0].Hint, "hunter2") {
			t.Errorf("%s %s: %v, want one error saying it holds a password, how to give it, without it", c.key, c.value, errs)
		}
	}
	for _, ok := range []map[string]any{
		{"source": "http://bob:${{ params.pw }}@127.0.0.1:8080/iris.csv"},
		{"source": "http://bob@127.0.0.1:8080/iris.csv"},
		{"source": "sql", "query": "SELECT 1", "dsn": "postgres://bob:${{ params.pw }}@db/shop"},
		{"source": "sql", "query": "SELECT 1", "dsn": "postgres://bob@db/shop?sslmode=disable"},
	} {
		if errs := task.ValidateParams(ok); len(errs) != 0 {
			t.Errorf("%v: %v", ok, errs)
		}
	}
	// References are left for run time.
	if errs := task.ValidateParams(map[string]any{"source": "${{ params.src }}", "rows": "${{ params.n }}"}); len(errs) != 0 {
		t.Errorf("references: %v", errs)
	}
	// Args of every kind, references among them, and references in the
	// DSN are fine: they are bound, not spliced.
	for _, args := range []any{
		[]any{"fr", 3, 2.5, true, nil, "${{ params.country }}", "%${{ params.q }}%"},
		map[string]any{"country": "${{ params.country }}", "min": 10, "vip": false, "_x1": nil},
		"${{ params.args }}",
		[]any{},
	} {
		if errs := task.ValidateParams(map[string]any{"source": "sql", "dsn": "${{ params.dsn }}", "query": "SELECT 1", "args": args}); len(errs) != 0 {
			t.Errorf("args %v: %v", args, errs)
		}
	}
}
