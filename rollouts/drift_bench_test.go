package rollouts_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/synthetic"
	"github.com/cairnml/cairn/tasks/retrain"
)

// BenchmarkMeasureDrift: one measurement of a drift_above alert at its
// largest, the 10,000 rows a version keeps (30 numeric features, as JSON
// objects) against 2,000 training rows: what the leader spends per
// watched version every DriftEvery.
func BenchmarkMeasureDrift(b *testing.B) {
	f, err := synthetic.Classification{Rows: 2000, Features: 30, Informative: 10, Seed: 1}.Frame()
	if err != nil {
		b.Fatal(err)
	}
	ref := &retrain.Reference{Frame: f, Kinds: map[string]dataset.Kind{}}
	for _, c := range f.Columns {
		if c.Name != "label" {
			ref.Features = append(ref.Features, c.Name)
			ref.Kinds[c.Name] = c.Kind
		}
	}
	rows := make([]cairn.ServedRow, cairn.DefaultServedRowsKept)
	for i := range rows {
		var sb strings.Builder
		sb.WriteByte('{')
		for j, name := range ref.Features {
			if j > 0 {
				sb.WriteByte(',')
			}
			c, _ := f.Col(name)
			fmt.Fprintf(&sb, "%q:%g", name, c.Num[i%f.Rows()]+0.5)
		}
		sb.WriteByte('}')
		rows[i] = cairn.ServedRow{Name: "bc", Version: 1, At: time.Unix(0, 0), Row: []byte(sb.String())}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rollouts.MeasureDrift(ref, rows); err != nil {
			b.Fatal(err)
		}
	}
}
