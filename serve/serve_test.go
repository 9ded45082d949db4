package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
)

func newServer(t *testing.T, fx *fixture, o serve.Options) *serve.Server {
	t.Helper()
	o.Registry, o.Artifacts = fx.st, fx.arts
	s, err := serve.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type answer struct {
	Model         string      `json:"model"`
	Version       int         `json:"version"`
	Classes       []any       `json:"classes"`
	Predictions   []any       `json:"predictions"`
	Probabilities [][]float64 `json:"probabilities"`
}

func predict(t *testing.T, s *serve.Server, name string, version int, body string) (answer, error) {
	t.Helper()
	var out bytes.Buffer
	err := s.Predict(context.Background(), name, version, "", strings.NewReader(body), &out)
	var a answer
	if err == nil {
		if jerr := json.Unmarshal(out.Bytes(), &a); jerr != nil {
			t.Fatalf("the answer is not JSON: %v\n%s", jerr, out.Bytes())
		}
	} else if out.Len() > 0 {
		t.Fatalf("an error (%v) with an answer written: %s", err, out.Bytes())
	}
	return a, err
}

// rowsJSON writes the frame's feature rows as a request body, a missing
// value as null.
func rowsJSON(t *testing.T, f *dataset.Frame, cols []string) string {
	t.Helper()
	rows := make([]map[string]any, f.Rows())
	for i := range rows {
		rows[i] = map[string]any{}
		for _, name := range cols {
			c, _ := f.Col(name)
			switch {
			case c.IsMissing(i):
				rows[i][name] = nil
			case c.Kind == dataset.Numeric:
				rows[i][name] = c.Num[i]
			case c.Kind == dataset.Boolean:
				rows[i][name] = c.Num[i] == 1
			default:
				rows[i][name] = c.Value(i)
			}
		}
	}
	b, err := json.Marshal(map[string]any{"rows": rows})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPredictAsBatch: the API's predictions are the model's on the same
// rows read as a data set (batch predict's path), missing values imputed
// alike, for a classifier and a regressor.
func TestPredictAsBatch(t *testing.T) {
	fx := newFixture(t)
	clf := fit(t, "label", model.LogisticRegression, nil, 1)
	reg := fit(t, "y", model.RandomForest, map[string]any{"n_estimators": 5}, 2)
	fx.deploy("clf", cairn.StageProduction, fx.put(clf))
	fx.deploy("reg", cairn.StageProduction, fx.put(reg))
	s := newServer(t, fx, serve.Options{})
	test, err := dataset.ReadCSV(strings.NewReader(trainCSV(50, 9)), dataset.ReadOptions{Schema: clf.SchemaKinds(false)})
	if err != nil {
		t.Fatal(err)
	}
	cols := []string{"num", "color", "flag", "when"}
	body := rowsJSON(t, test, cols)

	want, err := clf.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	got, err := predict(t, s, "clf", 0, body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "clf" || got.Version != 1 || len(got.Predictions) != 50 || fmt.Sprint(got.Classes) != "[no yes]" {
		t.Fatalf("answer %+v", got)
	}
	for i := range want.Class {
		if got.Predictions[i] != clf.Classes[want.Class[i]] {
			t.Fatalf("row %d: %v, want %s", i, got.Predictions[i], clf.Classes[want.Class[i]])
		}
		for k, p := range want.Proba[i] {
			if got.Probabilities[i][k] != p {
				t.Fatalf("row %d class %d: %v, want %v (exact)", i, k, got.Probabilities[i][k], p)
			}
		}
	}
	missing := 0
	for i := range test.Rows() {
		if c, _ := test.Col("num"); c.IsMissing(i) {
			missing++
		}
	}
	if missing == 0 {
		t.Fatal("the test rows hold no missing value: the imputation is not tested")
	}

	rwant, err := reg.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	rgot, err := predict(t, s, "reg", 0, body)
	if err != nil {
		t.Fatal(err)
	}
	if rgot.Classes != nil || rgot.Probabilities != nil {
		t.Fatalf("a regressor's answer has classes or probabilities: %+v", rgot)
	}
	for i, v := range rwant.Value {
		if rgot.Predictions[i] != v {
			t.Fatalf("row %d: %v, want %v", i, rgot.Predictions[i], v)
		}
	}
	// The label may be given (and is ignored).
	if _, err := predict(t, s, "clf", 0, `{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-01","label":"yes"}]}`); err != nil {
		t.Fatal(err)
	}
}

// TestNumericClassLabels: a numeric label's classes and predictions are
// JSON numbers, a boolean one's true and false.
func TestNumericClassLabels(t *testing.T) {
	fx := newFixture(t)
	f, err := dataset.ReadCSV(strings.NewReader("x,c,b\n1,0,false\n2,0,false\n3,1,true\n4,1,true\n5,2,true\n6,2,true\n"), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"c", "b"} {
		spec := model.Spec{Algorithm: model.DecisionTree}
		spec.Preprocess.Label = label
		spec.Preprocess.Exclude = []string{map[string]string{"c": "b", "b": "c"}[label]}
		m, err := model.Fit(f, spec)
		if err != nil {
			t.Fatal(err)
		}
		fx.deploy(label, cairn.StageProduction, fx.put(m))
	}
	s := newServer(t, fx, serve.Options{})
	var out bytes.Buffer
	if err := s.Predict(context.Background(), "c", 0, "", strings.NewReader(`{"rows":[{"x":1},{"x":6}]}`), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"classes":[0,1,2],"predictions":[0,2]`) {
		t.Fatalf("numeric classes: %s", out.String())
	}
	out.Reset()
	if err := s.Predict(context.Background(), "b", 0, "", strings.NewReader(`{"rows":[{"x":1},{"x":6}]}`), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"classes":[false,true],"predictions":[false,true]`) {
		t.Fatalf("boolean classes: %s", out.String())
	}
}

// TestPredictRefusals: every way a request can be wrong is a 400 (413
// for too many rows, 404 for a model not served) naming the row and the
// column, and nothing is written.
func TestPredictRefusals(t *testing.T) {
	fx := newFixture(t)
	clf := fit(t, "label", model.LogisticRegression, nil, 1)
	fx.deploy("clf", cairn.StageProduction, fx.put(clf))
	fx.deploy("cand", cairn.StageCandidate, fx.put(fit(t, "label", model.LogisticRegression, nil, 5)))
	s := newServer(t, fx, serve.Options{MaxRows: 3})
	good := `{"num":1.5,"color":"red","flag":true,"when":"2024-01-02"}`
	row := func(kv string) string { return `{"rows":[` + good + `,{` + kv + `}]}` }
	all := func(except, add string) string {
		parts := []string{}
		for _, kv := range []string{`"num":1`, `"color":"red"`, `"flag":false`, `"when":"2024-01-02"`} {
			if !strings.HasPrefix(kv, `"`+except+`"`) {
				parts = append(parts, kv)
			}
		}
		if add != "" {
			parts = append(parts, add)
		}
		return row(strings.Join(parts, ","))
	}
	for _, c := range []struct {
		name, model, body string
		status            int
		row               int
		field, msg        string
	}{
		{"not json", "clf", `rows`, 400, -1, "", "not a JSON object"},
		{"array body", "clf", `[1]`, 400, -1, "", "not a JSON object"},
		{"no rows", "clf", `{}`, 400, -1, "", "has no rows"},
		{"empty rows", "clf", `{"rows":[]}`, 400, -1, "", "rows is empty"},
		{"unknown field", "clf", `{"rows":[` + good + `],"x":1}`, 400, -1, "", `unknown field "x"`},
		{"rows twice", "clf", `{"rows":[` + good + `],"rows":[` + good + `]}`, 400, -1, "", "rows twice"},
		{"rows not array", "clf", `{"rows":{}}`, 400, -1, "", "array of objects"},
		{"row not object", "clf", `{"rows":[` + good + `,[1]]}`, 400, 1, "", "rows[1]: want an object"},
		{"missing column", "clf", all("flag", ""), 400, 1, "flag", `rows[1]."flag": missing`},
		{"unknown column", "clf", all("", `"colour":"red"`), 400, 1, "colour", `did you mean "color"`},
		{"twice", "clf", all("", `"num":2`), 400, 1, "num", "given twice"},
		{"number as string", "clf", all("num", `"num":"1.5"`), 400, 1, "num", "want a JSON number"},
		{"NaN string", "clf", all("num", `"num":"NaN"`), 400, 1, "num", "want a JSON number"},
		{"huge number", "clf", all("num", `"num":1e999`), 400, 1, "num", "out of the range"},
		{"category as number", "clf", all("color", `"color":3`), 400, 1, "color", `write it as "3"`},
		{"bool as string", "clf", all("flag", `"flag":"true"`), 400, 1, "flag", "want true or false"},
		{"bool as number", "clf", all("flag", `"flag":1`), 400, 1, "flag", "want true or false"},
		{"bad datetime", "clf", all("when", `"when":"yesterday"`), 400, 1, "when", "is not a datetime"},
		{"nested value", "clf", all("num", `"num":{"a":1}`), 400, 1, "num", "got an object"},
		{"label nested", "clf", all("", `"label":[1]`), 400, 1, "label", "single value"},
		{"bad number", "clf", all("num", `"num":01`), 400, 1, "", "not valid JSON"},
		{"plus number", "clf", all("num", `"num":+1`), 400, 1, "", "not valid JSON"},
		{"minus infinity", "clf", all("num", `"num":-Infinity`), 400, 1, "", "got '-' (JSON has no NaN or Infinity: send null for a missing value)"},
		{"NaN", "clf", all("num", `"num":NaN`), 400, 1, "", "got 'N' (JSON has no NaN or Infinity: send null"},
		{"trailing comma", "clf", `{"rows":[` + good + `,]}`, 400, 1, "", "not valid JSON"},
		{"bad utf8", "clf", all("color", "\"color\":\"\xff\""), 400, 1, "", "not valid UTF-8"},
		{"control char", "clf", all("color", "\"color\":\"a\nb\""), 400, 1, "", "control character"},
		{"bad escape", "clf", all("color", `"color":"\x"`), 400, 1, "", "not a valid JSON string"},
		{"lone surrogate", "clf", all("color", `"color":"\ud800"`), 400, 1, "", `holds \ud800, half of a UTF-16 surrogate pair`},
		{"trailing data", "clf", `{"rows":[` + good + `]} x`, 400, -1, "", "the end of the body"},
		{"truncated", "clf", `{"rows":[` + good, 400, -1, "", "the end of the body"},
		{"too many rows", "clf", `{"rows":[` + strings.Repeat(good+",", 3) + good + `]}`, 413, -1, "", "at most 3 rows"},
		{"no such model", "nope", `{"rows":[` + good + `]}`, 404, -1, "", `no model is named "nope"`},
		{"bad model name", "../x", `{"rows":[` + good + `]}`, 404, -1, "", "model name"},
		{"long model name", strings.Repeat("a", 5000), `{}`, 404, -1, "", "(5000 bytes) is longer than 128"},
		{"no production", "cand", `{"rows":[` + good + `]}`, 404, -1, "", "no version in production"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := predict(t, s, c.model, 0, c.body)
			var e *serve.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want a *serve.Error", err, err)
			}
			if e.Status != c.status || e.Row != c.row || e.Field != c.field || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("got %d row %d field %q: %s\nwant %d row %d field %q: …%s…", e.Status, e.Row, e.Field, e.Msg, c.status, c.row, c.field, c.msg)
			}
		})
	}
	// A pinned version that does not exist.
	if _, err := predict(t, s, "clf", 7, `{"rows":[`+good+`]}`); !errors.Is(err, cairn.ErrNotFound) || !strings.Contains(err.Error(), "has no version 7") {
		t.Fatalf("pinned version 7: %v", err)
	}
	// A pinned candidate is served.
	if a, err := predict(t, s, "cand", 1, `{"rows":[`+good+`]}`); err != nil || a.Version != 1 {
		t.Fatalf("pinned candidate: %+v %v", a, err)
	}
}

// TestMissingValues: null, and in a categorical or datetime column the
// strings data sets read as missing, are imputed as the data set's
// missing values are.
func TestMissingValues(t *testing.T) {
	fx := newFixture(t)
	clf := fit(t, "label", model.LogisticRegression, nil, 1)
	fx.deploy("clf", cairn.StageProduction, fx.put(clf))
	s := newServer(t, fx, serve.Options{})
	f, err := dataset.ReadCSV(strings.NewReader("num,color,flag,when\n,,,\n2,NA,true,?\n"), dataset.ReadOptions{Schema: clf.SchemaKinds(false)})
	if err != nil {
		t.Fatal(err)
	}
	want, err := clf.Predict(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := predict(t, s, "clf", 0, `{"rows":[{"num":null,"color":null,"flag":null,"when":""},{"num":2,"color":"NA","flag":true,"when":"?"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want.Proba {
		for k := range want.Proba[i] {
			if got.Probabilities[i][k] != want.Proba[i][k] {
				t.Fatalf("row %d: %v, want %v", i, got.Probabilities[i], want.Proba[i])
			}
		}
	}
}

// TestCorruptArtifact: a version whose artifact does not match its digest
// is never served: the version served before goes on, a pinned request
// and a server with nothing loaded get a 503 naming the digest.
func TestCorruptArtifact(t *testing.T) {
	fx := newFixture(t)
	m1 := fit(t, "label", model.LogisticRegression, nil, 1)
	fx.deploy("clf", cairn.StageProduction, fx.put(m1))
	s := newServer(t, fx, serve.Options{})
	body := `{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-02"}]}`
	if a, err := predict(t, s, "clf", 0, body); err != nil || a.Version != 1 {
		t.Fatalf("%+v %v", a, err)
	}
	m2 := fit(t, "label", model.LogisticRegression, map[string]any{"C": 0.01}, 2)
	ref2 := fx.put(m2)
	corrupt(t, fx.arts, ref2)
	v2 := fx.deploy("clf", cairn.StageCandidate, ref2)
	fx.promote("clf", v2)
	if err := s.Refresh(context.Background(), "clf"); err != nil {
		t.Fatal(err)
	}
	if a, err := predict(t, s, "clf", 0, body); err != nil || a.Version != 1 {
		t.Fatalf("after promoting a corrupt version: %+v %v, want version 1 still served", a, err)
	}
	_, err := predict(t, s, "clf", v2, body)
	var e *serve.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || !strings.Contains(e.Msg, ref2.Digest) || !strings.Contains(e.Msg, "corrupt") {
		t.Fatalf("pinned corrupt version: %v", err)
	}
	fresh := newServer(t, fx, serve.Options{Poll: 5 * time.Millisecond, Retry: 20 * time.Millisecond})
	if _, err := predict(t, fresh, "clf", 0, body); !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || !strings.Contains(e.Msg, ref2.Digest) {
		t.Fatalf("a fresh server on a corrupt production version: %v", err)
	}
	// The artifact repaired (the same bytes stored again), the load is
	// tried again and version 2 served.
	fresh.Start(context.Background())
	defer fresh.Stop(context.Background())
	fx.put(m2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, err := predict(t, fresh, "clf", 0, body)
		if err == nil && a.Version == v2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the repaired version 2 is not served after 5 s: %+v %v", a, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// corrupt changes one byte of ref's blob, keeping its size.
func corrupt(t *testing.T, arts interface {
	Path(cairn.ArtifactRef) (string, error)
}, ref cairn.ArtifactRef) {
	t.Helper()
	p, err := arts.Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.IndexByte(b, '.') // inside a number: still JSON, another model
	if i < 0 {
		t.Fatal("no '.' in the model")
	}
	b[i+1] = '0' + (b[i+1]-'0'+1)%10
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSampleLog: sampled rows land in the model's JSON Lines file, which
// dataset reads with the model's kinds; the file rotates past its size.
func TestSampleLog(t *testing.T) {
	fx := newFixture(t)
	clf := fit(t, "label", model.LogisticRegression, nil, 1)
	fx.deploy("clf", cairn.StageProduction, fx.put(clf))
	dir := filepath.Join(fx.dir, "predictions")
	s := newServer(t, fx, serve.Options{SampleDir: dir, SampleRate: 1})
	s.Start(context.Background())
	body := `{"rows":[{"num":1.25,"color":"red","flag":true,"when":"2024-01-02","label":"yes"},` +
		`{"when":null,"num":-3e-7,"color":"new \"one\"","flag":false}]}`
	for range 3 {
		if _, err := predict(t, s, "clf", 0, body); err != nil {
			t.Fatal(err)
		}
	}
	s.Stop(context.Background())
	raw, err := os.ReadFile(filepath.Join(dir, "clf", serve.SampleFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6:\n%s", len(lines), raw)
	}
	if !strings.Contains(lines[1], `"cairn_version":1,"num":-3e-7,"color":"new \"one\"","flag":false,"when":null}`) {
		t.Fatalf("line 2: %s", lines[1])
	}
	kinds := clf.SchemaKinds(false)
	f, err := dataset.ReadJSONL(bytes.NewReader(raw), dataset.ReadOptions{Schema: kinds})
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows() != 6 || strings.Join(f.Names(), ",") != "cairn_time,cairn_version,num,color,flag,when" {
		t.Fatalf("read back: %d rows, columns %v", f.Rows(), f.Names())
	}
	if c, _ := f.Col("when"); !c.IsMissing(1) {
		t.Fatal("null came back as a value")
	}
	if c, _ := f.Col("num"); c.Num[1] != -3e-7 {
		t.Fatalf("num %v", c.Num[1])
	}
	if c, _ := f.Col("cairn_time"); c.Kind != dataset.Datetime {
		t.Fatalf("cairn_time reads as %s", c.Kind)
	}

	// Rotation: a small size limit keeps the log and one rotated file.
	s = newServer(t, fx, serve.Options{SampleDir: dir, SampleRate: 1, SampleMaxBytes: 600})
	s.Start(context.Background())
	for range 20 {
		if _, err := predict(t, s, "clf", 0, body); err != nil {
			t.Fatal(err)
		}
		s.Changed("clf") // nothing changed: a poll that reads the same version
	}
	s.Stop(context.Background())
	for _, name := range []string{serve.SampleFile, serve.SampleRotatedFile} {
		st, err := os.Stat(filepath.Join(dir, "clf", name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 600*2 || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %d bytes, mode %v", name, st.Size(), st.Mode())
		}
	}
}

// TestSampleDrops: rows that find the buffer full are dropped and
// counted; requests never fail for it.
func TestSampleDrops(t *testing.T) {
	fx := newFixture(t)
	fx.deploy("clf", cairn.StageProduction, fx.put(fit(t, "label", model.LogisticRegression, nil, 1)))
	dropped := 0
	var mu = make(chan struct{}, 1)
	s := newServer(t, fx, serve.Options{SampleDir: filepath.Join(fx.dir, "p"), SampleRate: 1, SampleBuffer: 300,
		Observe: func(e serve.Event) {
			if e.Kind == serve.EventSamplesDropped {
				mu <- struct{}{}
				dropped += e.Rows
				<-mu
			}
		}})
	// Not started: nothing writes, the buffer fills.
	body := `{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-02"}]}`
	for range 10 {
		if _, err := predict(t, s, "clf", 0, body); err != nil {
			t.Fatal(err)
		}
	}
	if dropped < 5 || dropped == 10 {
		t.Fatalf("%d of 10 rows dropped, want most but not all", dropped)
	}
}

func TestAppendFloatAsEncodingJSON(t *testing.T) {
	for _, v := range []float64{0, 1, -1, 0.1, 1e-7, 1.5e-300, 1e21, 1e20, 123456789.125, -2.5e-6, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		want, _ := json.Marshal(v)
		got := serve.AppendFloat(nil, v)
		if string(got) != string(want) {
			t.Errorf("%v: %s, want %s", v, got, want)
		}
	}
}

// TestLargeBodiesTakeTurns: while as many large bodies as the server
// holds at once are under way, another waits (and gives up with its
// request), and a small one is answered at once.
func TestLargeBodiesTakeTurns(t *testing.T) {
	fx := newFixture(t)
	fx.deploy("clf", cairn.StageProduction, fx.put(fit(t, "label", model.LogisticRegression, nil, 1)))
	s := newServer(t, fx, serve.Options{MaxRows: 100000})
	s.TakeBigTurns()
	row := `{"num":1,"color":"red","flag":true,"when":"2024-01-02"}`
	if _, err := predict(t, s, "clf", 0, `{"rows":[`+row+`]}`); err != nil {
		t.Fatalf("a small body waited behind large ones: %v", err)
	}
	big := `{"rows":[` + strings.Repeat(row+",", 20000) + row + `]}`
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.Predict(ctx, "clf", 0, "", strings.NewReader(big), io.Discard)
	var e *serve.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || !strings.Contains(e.Msg, "waited for its turn") {
		t.Fatalf("a large body with every turn taken: %v", err)
	}
}

// stalledBody is a large body whose client sends part of it and then
// nothing: it reports when all it will send was read, and ends (with an
// error) when its test does.
type stalledBody struct {
	io.Reader
	sent chan struct{}
	end  chan struct{}
	once sync.Once
}

func (b *stalledBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		b.once.Do(func() { close(b.sent) })
		<-b.end
		return 0, io.ErrUnexpectedEOF
	}
	return n, err
}

// TestStalledBodiesDoNotHoldTurns: more clients than there are turns send
// 1.5 MB of a large body each and then nothing; a large request of
// another client is read and answered meanwhile (before, each stalled
// body held a turn until the 30 s body deadline: trial finding 19).
func TestStalledBodiesDoNotHoldTurns(t *testing.T) {
	fx := newFixture(t)
	fx.deploy("clf", cairn.StageProduction, fx.put(fit(t, "label", model.LogisticRegression, nil, 1)))
	s := newServer(t, fx, serve.Options{MaxRows: 100000})
	row := `{"num":1,"color":"red","flag":true,"when":"2024-01-02"}`
	big := `{"rows":[` + strings.Repeat(row+",", 40000) + row + `]}` // 2.2 MB
	end := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(end)
	for range max(2, runtime.GOMAXPROCS(0)) + 2 {
		b := &stalledBody{Reader: strings.NewReader(big[:1500000]), sent: make(chan struct{}), end: end}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Predict(context.Background(), "clf", 0, "", b, io.Discard); err == nil {
				t.Error("a stalled body was answered")
			}
		}()
		select {
		case <-b.sent:
		case <-time.After(10 * time.Second):
			t.Fatal("a stalled body waits behind the others before it is read past its first MiB")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Predict(ctx, "clf", 0, "", strings.NewReader(big), io.Discard); err != nil {
		t.Fatalf("a large body behind stalled ones: %v", err)
	}
}

// TestPreload: Start loads the production models before any request.
func TestPreload(t *testing.T) {
	fx := newFixture(t)
	fx.deploy("clf", cairn.StageProduction, fx.put(fit(t, "label", model.LogisticRegression, nil, 1)))
	fx.deploy("cand", cairn.StageCandidate, fx.put(fit(t, "label", model.LogisticRegression, nil, 2)))
	loads := make(chan string, 10)
	s := newServer(t, fx, serve.Options{Observe: func(e serve.Event) {
		if e.Kind == serve.EventLoad {
			loads <- e.Model + ":" + e.Outcome
		}
	}})
	s.Start(context.Background())
	defer s.Stop(context.Background())
	select {
	case got := <-loads:
		if got != "clf:ok" {
			t.Fatalf("loaded %s, want clf:ok", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no model loaded at start")
	}
	if _, err := predict(t, s, "clf", 0, `{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-02"}]}`); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-loads:
		t.Fatalf("a second load (%s): the request did not use the preloaded model, or the candidate was loaded", got)
	case <-time.After(50 * time.Millisecond):
	}
}

// A finite value that the model's preprocessing scales past the range of
// a float64 (1.7e308 over a standard deviation under 1) is the row's
// fault: a 400 naming the row, never the model's "internal" error, which
// would count against a canary and in production's error rate.
func TestPredictOverflowIsTheRows(t *testing.T) {
	fx := newFixture(t)
	var csv strings.Builder
	csv.WriteString("x,label\n")
	for i := range 40 {
		fmt.Fprintf(&csv, "%g,%s\n", 0.1+0.01*float64(i%7), []string{"a", "b"}[i%2])
	}
	f, err := dataset.ReadCSV(strings.NewReader(csv.String()), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Fit(f, model.Spec{Preprocess: features.NewSpec("label"), Algorithm: model.LogisticRegression, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	fx.deploy("small", cairn.StageProduction, fx.put(m))
	s := newServer(t, fx, serve.Options{})
	if _, err := predict(t, s, "small", 0, `{"rows":[{"x":0.12}]}`); err != nil {
		t.Fatalf("a plain row: %v", err)
	}
	for _, v := range []string{"1.7e308", "-1.7e308"} {
		_, err := predict(t, s, "small", 0, `{"rows":[{"x":0.12},{"x":`+v+`}]}`)
		var e *serve.Error
		if !errors.As(err, &e) || e.Status != 400 || e.Code != serve.CodeBadInput || e.Row != 1 || !strings.Contains(e.Msg, "out of the range the model computes in") {
			t.Fatalf("x=%s: %v (%T), want a 400 bad_input naming rows[1]", v, err, err)
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestBodyHeadWithinBudget: a body's first MiB is read within the byte
// budget too (before, it was read whole before any budget was taken): a
// body larger than the whole budget within its first MiB is refused
// (413) after MaxBodyBytes, not read whole; with every turn of the first
// MiB taken, even a small body waits for one (and gives up with its
// request), while the turns of large bodies are another budget.
func TestBodyHeadWithinBudget(t *testing.T) {
	fx := newFixture(t)
	fx.deploy("clf", cairn.StageProduction, fx.put(fit(t, "label", model.LogisticRegression, nil, 1)))
	const maxBody = 8 << 10
	s := newServer(t, fx, serve.Options{MaxRows: 100000, MaxBodyBytes: maxBody})
	row := `{"num":1,"color":"red","flag":true,"when":"2024-01-02"}`
	budget := int64(max(2, runtime.GOMAXPROCS(0))) * maxBody
	big := `{"rows":[` + strings.Repeat(row+",", int(budget)/len(row)+1) + row + `]}`
	if int64(len(big)) <= budget || len(big) >= 1<<20 {
		t.Fatalf("a body of %d bytes: want more than the budget (%d) and less than 1 MiB", len(big), budget)
	}
	body := &countingReader{r: strings.NewReader(big)}
	err := s.Predict(context.Background(), "clf", 0, "", body, io.Discard)
	var tooLarge *http.MaxBytesError
	if !errors.As(err, &tooLarge) || tooLarge.Limit != maxBody {
		t.Fatalf("a body of %d bytes, over the budget of %d: %v, want a MaxBytesError of %d", len(big), budget, err, maxBody)
	}
	if body.n > maxBody+64<<10 {
		t.Errorf("%d bytes of the body read, want at most MaxBodyBytes and a chunk", body.n)
	}

	small := `{"rows":[` + row + `]}`
	s.TakeBigTurns()
	if _, err := predict(t, s, "clf", 0, small); err != nil {
		t.Fatalf("a small body waited behind large ones: %v", err)
	}
	s.TakeHeadTurns()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = s.Predict(ctx, "clf", 0, "", strings.NewReader(small), io.Discard)
	var e *serve.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || !strings.Contains(e.Msg, "waited for its turn") {
		t.Fatalf("a small body with every turn of the first MiB taken: %v, want it to wait and give up", err)
	}
}

// TestLargeBodiesCannotStallOneAnother: more large bodies at once than
// the budget holds, each sent slowly enough that all hold a part of it and
// wait for more (found by the trial: 60 bodies of 8 MB stalled the server
// for good). Every request ends, answered or refused as busy within
// BodyWait, and then the budget is whole again.
func TestLargeBodiesCannotStallOneAnother(t *testing.T) {
	fx := newFixture(t)
	fx.deploy("clf", cairn.StageProduction, fx.put(fit(t, "label", model.LogisticRegression, nil, 1)))
	const maxBody = 4 << 20
	s := newServer(t, fx, serve.Options{MaxRows: 1 << 20, MaxBodyBytes: maxBody, BodyWait: 300 * time.Millisecond})
	row := `{"num":1,"color":"red","flag":true,"when":"2024-01-02"}`
	body := `{"rows":[` + strings.Repeat(row+",", (3<<20)/len(row)) + row + `]}`
	budget := int64(max(2, runtime.GOMAXPROCS(0))) * maxBody
	n := int(2*budget/int64(len(body))) + 4 // twice what the budget holds
	start := make(chan struct{})
	var wg sync.WaitGroup
	var answered, busy atomic.Int32
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// A client that sends its body in 64 KiB pieces, each after
			// the others have had their turn.
			r := &slowReader{r: strings.NewReader(body)}
			err := s.Predict(context.Background(), "clf", 0, "", r, io.Discard)
			var e *serve.Error
			switch {
			case err == nil:
				answered.Add(1)
			case errors.As(err, &e) && e.Status == http.StatusServiceUnavailable && e.Code == serve.CodeBusy:
				busy.Add(1)
			default:
				errs <- err
			}
		}()
	}
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("requests still stalled after 60 s: %d answered, %d busy of %d", answered.Load(), busy.Load(), n)
	}
	close(errs)
	for err := range errs {
		t.Errorf("a request failed otherwise: %v", err)
	}
	if answered.Load() == 0 || int(answered.Load()+busy.Load()) != n {
		t.Errorf("%d answered, %d busy, of %d", answered.Load(), busy.Load(), n)
	}
	if !s.BudgetWhole() {
		t.Error("a request that ended still holds part of the budget")
	}
	if _, err := predict(t, s, "clf", 0, body); err != nil {
		t.Errorf("a large body after the burst: %v", err)
	}
}

// slowReader hands out at most 64 KiB a read, yielding between reads.
type slowReader struct{ r io.Reader }

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return s.r.Read(p[:min(len(p), 64<<10)])
}
