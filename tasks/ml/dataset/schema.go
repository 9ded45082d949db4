package dataset

import (
	"encoding/json"
	"math"
)

// Schema is a frame's profile: what the collect task reports and what is
// stored beside a CSV artifact so the next task reads it back with the same
// kinds (see Kinds). Its JSON form is deterministic.
type Schema struct {
	Rows    int          `json:"rows"`
	Columns []ColumnInfo `json:"columns"`
}

// ColumnInfo profiles one column. Distinct (non-missing distinct values) is
// set for categorical and boolean columns; Min, Max and Mean (of the
// non-missing values; the mean's sum is compensated (Neumaier), in row
// order) for numeric and datetime columns, NaN when every value is
// missing. The JSON form leaves out the fields that do not apply.
type ColumnInfo struct {
	Name     string  `json:"name"`
	Kind     Kind    `json:"kind"`
	Missing  int     `json:"missing"`
	Distinct int     `json:"distinct,omitempty"`
	Min      float64 `json:"min,omitempty"`
	Max      float64 `json:"max,omitempty"`
	Mean     float64 `json:"mean,omitempty"`
}

// MarshalJSON writes the fields that apply to the column's kind, in a fixed
// order. A numeric or datetime column's min, max and mean are always
// written: null when every value is missing (there is none to describe,
// which 0 would misreport) or when the value is infinite (JSON has no
// infinity).
func (ci ColumnInfo) MarshalJSON() ([]byte, error) {
	switch ci.Kind {
	case Categorical, Boolean:
		return json.Marshal(struct {
			Name     string `json:"name"`
			Kind     Kind   `json:"kind"`
			Missing  int    `json:"missing"`
			Distinct int    `json:"distinct"`
		}{ci.Name, ci.Kind, ci.Missing, ci.Distinct})
	}
	finite := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Name    string   `json:"name"`
		Kind    Kind     `json:"kind"`
		Missing int      `json:"missing"`
		Min     *float64 `json:"min"`
		Max     *float64 `json:"max"`
		Mean    *float64 `json:"mean"`
	}{ci.Name, ci.Kind, ci.Missing, finite(ci.Min), finite(ci.Max), finite(ci.Mean)})
}

// Kinds returns the column kinds by name, for ReadOptions.Schema.
func (s Schema) Kinds() map[string]Kind {
	m := make(map[string]Kind, len(s.Columns))
	for _, c := range s.Columns {
		m[c.Name] = c.Kind
	}
	return m
}

// Describe profiles f. It assumes a valid frame (see Frame.Validate).
func Describe(f *Frame) Schema {
	s := Schema{Rows: f.Rows(), Columns: make([]ColumnInfo, len(f.Columns))}
	for j, c := range f.Columns {
		ci := ColumnInfo{Name: c.Name, Kind: c.Kind}
		n := c.Len()
		switch c.Kind {
		case Categorical:
			seen := map[string]struct{}{}
			for i := range n {
				if c.IsMissing(i) {
					ci.Missing++
				} else {
					seen[c.Str[i]] = struct{}{}
				}
			}
			ci.Distinct = len(seen)
		case Boolean:
			var t, fl bool
			for i := range n {
				switch {
				case c.IsMissing(i):
					ci.Missing++
				case c.Num[i] != 0:
					t = true
				default:
					fl = true
				}
			}
			ci.Distinct = b2i(t) + b2i(fl)
		default:
			var sum, comp float64 // Neumaier compensated sum
			k := 0
			for i, v := range c.Num {
				if c.IsMissing(i) {
					ci.Missing++
					continue
				}
				if k == 0 {
					ci.Min, ci.Max = v, v
				}
				ci.Min, ci.Max = math.Min(ci.Min, v), math.Max(ci.Max, v)
				t := sum + v
				if math.Abs(sum) >= math.Abs(v) {
					comp += (sum - t) + v
				} else {
					comp += (v - t) + sum
				}
				sum = t
				k++
			}
			if k > 0 {
				ci.Mean = (sum + comp) / float64(k)
			} else {
				ci.Min, ci.Max, ci.Mean = math.NaN(), math.NaN(), math.NaN()
			}
		}
		s.Columns[j] = ci
	}
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
