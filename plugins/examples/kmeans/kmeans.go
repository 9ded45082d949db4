package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/cluster"
	"github.com/cairnml/cairn/tasks/ml/dataset"
)

// kmeans is the "kmeans" task type.
type kmeans struct{}

var (
	_ tasks.Task           = kmeans{}
	_ tasks.ParamValidator = kmeans{}
)

func (kmeans) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "kmeans",
		Summary: "Clusters a CSV's numeric columns with k-means (seeded k-means++, restarts); served by the kmeans example plugin.",
		Params: []cairn.ParamInfo{
			{Name: "k", Kind: cairn.KindInt, Required: true, Doc: "number of clusters"},
			{Name: "columns", Kind: cairn.KindList, Doc: "feature columns (numeric or boolean); default every numeric and boolean column"},
			{Name: "seed", Kind: cairn.KindInt, Default: 0.0, Doc: "seed of the k-means++ initialisation"},
			{Name: "restarts", Kind: cairn.KindInt, Default: 10.0, Doc: "independent initialisations; the lowest inertia is kept"},
			{Name: "max_iter", Kind: cairn.KindInt, Default: 300.0, Doc: "Lloyd iterations per restart"},
			{Name: "standardize", Kind: cairn.KindBool, Default: false, Doc: "scale each feature to mean 0, standard deviation 1 before clustering"},
		},
		Inputs: []cairn.PortInfo{{Name: "data", Artifact: true, Required: true, Doc: "CSV with a header row"}},
		Outputs: []cairn.PortInfo{
			{Name: "assignments", Artifact: true, Doc: "the input CSV with a cluster column (0-based) appended"},
			{Name: "centroids", Artifact: true, Doc: "JSON: feature columns, centroids in input units, sizes, inertia"},
			{Name: "inertia", Doc: "sum of squared distances to the centroids (in the clustered, possibly standardised, space)"},
			{Name: "sizes", Doc: "points per cluster"},
		},
	}
}

type params struct {
	K           int      `json:"k"`
	Columns     []string `json:"columns"`
	Seed        int64    `json:"seed"`
	Restarts    int      `json:"restarts"`
	MaxIter     int      `json:"max_iter"`
	Standardize bool     `json:"standardize"`
}

// ValidateParams checks the numbers that can be checked before the data
// is seen. References (strings) are left to Run.
func (kmeans) ValidateParams(p map[string]any) []tasks.ParamError {
	var errs []tasks.ParamError
	for _, c := range []struct {
		key string
		min float64
	}{{"k", 1}, {"restarts", 1}, {"max_iter", 1}} {
		if v, ok := p[c.key].(float64); ok && (v < c.min || v != math.Trunc(v)) {
			errs = append(errs, tasks.ParamError{Key: c.key, Msg: fmt.Sprintf("must be a whole number ≥ %g, got %v", c.min, v)})
		}
	}
	if v, ok := p["seed"].(float64); ok && (v < 0 || v != math.Trunc(v)) {
		errs = append(errs, tasks.ParamError{Key: "seed", Msg: fmt.Sprintf("must be a whole number ≥ 0, got %v", v)})
	}
	if cols, ok := p["columns"].([]any); ok {
		for _, c := range cols {
			if _, isStr := c.(string); !isStr {
				errs = append(errs, tasks.ParamError{Key: "columns", Msg: fmt.Sprintf("want a list of column names, got %v", c)})
				break
			}
		}
	}
	return errs
}

// Run clusters the data. Bad params and data that cannot be clustered
// (a missing value, a non-numeric column, k above the number of rows) are
// permanent errors.
func (kmeans) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	p := params{Restarts: 10, MaxIter: 300}
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	if perrs := (kmeans{}).ValidateParams(map[string]any{"k": float64(p.K), "restarts": float64(p.Restarts), "max_iter": float64(p.MaxIter), "seed": float64(p.Seed)}); len(perrs) > 0 {
		return tasks.Result{}, cairn.Permanentf("kmeans: %s", perrs[0])
	}
	in, ok := req.Inputs["data"]
	if !ok {
		return tasks.Result{}, cairn.Permanentf("kmeans: no data input")
	}
	rc, err := env.Artifacts.Open(ctx, in)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("kmeans: %w", err)
	}
	frame, err := dataset.ReadCSV(rc, dataset.ReadOptions{})
	rc.Close()
	if err != nil {
		return tasks.Result{}, cairn.Permanentf("kmeans: read data: %w", err)
	}
	cols, err := features(frame, p.Columns)
	if err != nil {
		return tasks.Result{}, err
	}
	n := frame.Rows()
	pts := make([][]float64, n)
	for i := range pts {
		pts[i] = make([]float64, len(cols))
		for j, c := range cols {
			if c.IsMissing(i) {
				return tasks.Result{}, cairn.Permanentf("kmeans: column %s is missing a value in data row %d: impute or drop missing values first (the clean task)", c.Name, i+1)
			}
			pts[i][j] = c.Num[i]
		}
	}
	means, stds := make([]float64, len(cols)), make([]float64, len(cols))
	if p.Standardize {
		standardize(pts, means, stds)
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("kmeans: %w", err)
	}
	res, err := cluster.KMeans(pts, cluster.Options{K: p.K, Seed: uint64(p.Seed), Restarts: p.Restarts, MaxIter: p.MaxIter})
	if err != nil {
		return tasks.Result{}, cairn.Permanentf("kmeans: %w", err)
	}
	fmt.Fprintf(env.Log, "kmeans: %d rows, %d features (%s), k=%d: inertia %.6g after %d iterations, sizes %v\n",
		n, len(cols), names(cols), p.K, res.Inertia, res.Iterations, res.Sizes)

	labels := &dataset.Column{Name: uniqueName(frame, "cluster"), Kind: dataset.Numeric, Num: make([]float64, n)}
	for i, l := range res.Labels {
		labels.Num[i] = float64(l)
	}
	out := &dataset.Frame{Columns: append(append([]*dataset.Column(nil), frame.Columns...), labels)}
	var csvBuf bytes.Buffer
	if err := dataset.WriteCSV(&csvBuf, out); err != nil {
		return tasks.Result{}, cairn.Permanentf("kmeans: write assignments: %w", err)
	}
	assignments, err := env.Artifacts.Put(ctx, "text/csv", &csvBuf)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("kmeans: store assignments: %w", err)
	}
	centroids := make([][]float64, len(res.Centroids))
	for c, m := range res.Centroids {
		centroids[c] = make([]float64, len(m))
		for j, v := range m {
			if p.Standardize {
				v = v*stds[j] + means[j]
			}
			centroids[c][j] = v
		}
	}
	model := struct {
		Columns     []string    `json:"columns"`
		Standardize bool        `json:"standardize"`
		Centroids   [][]float64 `json:"centroids"`
		Sizes       []int       `json:"sizes"`
		Inertia     float64     `json:"inertia"`
		Iterations  int         `json:"iterations"`
		Seed        int64       `json:"seed"`
	}{names(cols), p.Standardize, centroids, res.Sizes, res.Inertia, res.Iterations, p.Seed}
	mb, err := json.MarshalIndent(model, "", "  ")
	if err != nil {
		return tasks.Result{}, cairn.Permanentf("kmeans: encode centroids: %w", err)
	}
	centroidsRef, err := env.Artifacts.Put(ctx, "application/json", io.MultiReader(bytes.NewReader(mb), bytes.NewReader([]byte("\n"))))
	if err != nil {
		return tasks.Result{}, fmt.Errorf("kmeans: store centroids: %w", err)
	}
	inertia, _ := json.Marshal(res.Inertia)
	sizes, _ := json.Marshal(res.Sizes)
	return tasks.Result{
		Outputs: map[string]json.RawMessage{
			"assignments": assignments.JSON(),
			"centroids":   centroidsRef.JSON(),
			"inertia":     inertia,
			"sizes":       sizes,
		},
		Metrics: map[string]float64{"inertia": res.Inertia, "iterations": float64(res.Iterations)},
	}, nil
}

// features picks the feature columns: those named, or every numeric and
// boolean one.
func features(f *dataset.Frame, want []string) ([]*dataset.Column, error) {
	var cols []*dataset.Column
	if len(want) == 0 {
		for _, c := range f.Columns {
			if c.Kind == dataset.Numeric || c.Kind == dataset.Boolean {
				cols = append(cols, c)
			}
		}
		if len(cols) == 0 {
			return nil, cairn.Permanentf("kmeans: the data has no numeric column (columns: %v)", f.Names())
		}
		return cols, nil
	}
	for _, name := range want {
		c, ok := f.Col(name)
		if !ok {
			return nil, cairn.Permanentf("kmeans: columns: no column %q in the data (it has %v)", name, f.Names())
		}
		if c.Kind != dataset.Numeric && c.Kind != dataset.Boolean {
			return nil, cairn.Permanentf("kmeans: columns: column %q is %s, not numeric", name, c.Kind)
		}
		cols = append(cols, c)
	}
	return cols, nil
}

// standardize scales each coordinate to mean 0 and standard deviation 1
// (population), recording both; a constant coordinate is only centred.
func standardize(pts [][]float64, means, stds []float64) {
	n := float64(len(pts))
	for j := range means {
		s := 0.0
		for _, p := range pts {
			s += p[j]
		}
		means[j] = s / n
		v := 0.0
		for _, p := range pts {
			d := p[j] - means[j]
			v += d * d
		}
		stds[j] = math.Sqrt(v / n)
		if stds[j] == 0 {
			stds[j] = 1
		}
		for _, p := range pts {
			p[j] = (p[j] - means[j]) / stds[j]
		}
	}
}

func names(cols []*dataset.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// uniqueName returns base, or base_2, base_3… if the frame has it.
func uniqueName(f *dataset.Frame, base string) string {
	name := base
	for i := 2; ; i++ {
		if _, taken := f.Col(name); !taken {
			return name
		}
		name = fmt.Sprintf("%s_%d", base, i)
	}
}
