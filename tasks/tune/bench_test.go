package tune_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/tasktest"
	"github.com/cairnml/cairn/tasks/tune"
)

// BenchmarkGridSearch16 is issue 3's figure: a 5-fold grid search of 16
// candidates on the breast cancer set (569 rows × 30 features), with 1 and
// with 2 fits at once; the ratio of the two is the speedup the second core
// gives. Logistic regression (16 values of C) has small fits (~1 ms);
// the forest grid (4 max_depth × 4 min_samples_leaf, 50 trees) larger
// ones.
func BenchmarkGridSearch16(b *testing.B) {
	bc := data(b, "breast_cancer.csv")
	cs := make([]any, 16)
	for i := range cs {
		cs[i] = 0.001 * float64(int(1)<<i) // 0.001 … 32.768
	}
	for _, c := range []struct {
		name   string
		params map[string]any
	}{
		{"logistic", map[string]any{"model": "logistic_regression", "label": "malignant", "metric": "f1", "space": map[string]any{"C": cs}}},
		{"forest", map[string]any{"model": "random_forest", "label": "malignant", "metric": "roc_auc", "hyperparams": map[string]any{"n_estimators": 50},
			"space": map[string]any{"max_depth": []any{2, 4, 8, nil}, "min_samples_leaf": []any{1, 2, 4, 8}}}},
	} {
		for _, par := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/parallelism=%d", c.name, par), func(b *testing.B) {
				c.params["parallelism"] = par
				c.params["cv_folds"] = 5
				raw, err := json.Marshal(c.params)
				if err != nil {
					b.Fatal(err)
				}
				env, _ := tasktest.Env(b)
				req := tasktest.Request(b, raw)
				ref, err := env.Artifacts.Put(context.Background(), "text/csv", strings.NewReader(string(bc)))
				if err != nil {
					b.Fatal(err)
				}
				req.Inputs = map[string]cairn.ArtifactRef{"train": ref}
				b.ResetTimer()
				for range b.N {
					res, err := tune.New().Run(context.Background(), req, env)
					if err != nil {
						b.Fatal(err)
					}
					if res.Metrics["trials"] != 16 {
						b.Fatalf("%v trials", res.Metrics["trials"])
					}
				}
			})
		}
	}
}
