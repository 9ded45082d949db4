package serve

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// loaded is a model read from its artifact, with what serving it needs
// made once: the schema rows are read against and the JSON of its
// classes. Loaded models are shared by digest and never change.
type loaded struct {
	digest  string
	m       *model.Model
	p       *model.Predictor // m, checked once
	in      *schema
	classes [][]byte // each class label as a JSON value (classification)
	list    []byte   // `"classes":[...]` (classification)
}

func newLoaded(digest string, m *model.Model, p *model.Predictor) *loaded {
	l := &loaded{digest: digest, m: m, p: p, in: newSchema(m)}
	if m.Kind != model.Classification {
		return l
	}
	l.list = append(l.list, `"classes":[`...)
	for i, c := range m.Classes {
		v := classJSON(c, m.Preprocess.LabelKind)
		l.classes = append(l.classes, v)
		if i > 0 {
			l.list = append(l.list, ',')
		}
		l.list = append(l.list, v...)
	}
	l.list = append(l.list, ']')
	return l
}

// classJSON writes a class label as the JSON value of its label's kind:
// a number for a numeric label (the class is spelled as data sets write
// numbers), true or false for a boolean one, else a string.
func classJSON(c string, k dataset.Kind) []byte {
	switch k {
	case dataset.Numeric:
		if v, err := strconv.ParseFloat(c, 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			return appendFloat(nil, v)
		}
	case dataset.Boolean:
		if c == "true" || c == "false" {
			return []byte(c)
		}
	}
	b, _ := json.Marshal(c)
	return b
}

// appendResponse writes the answer to a request.
func (l *loaded) appendResponse(b []byte, name string, version int, id string, p *model.Prediction) []byte {
	b = append(b, `{"model":`...)
	b = strconv.AppendQuote(b, name) // a model name is letters, digits, '-', '_' and '.'
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(version), 10)
	if l.list != nil {
		b = append(b, ',')
		b = append(b, l.list...)
	}
	b = append(b, `,"predictions":[`...)
	if l.list != nil {
		for i, c := range p.Class {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, l.classes[c]...)
		}
		b = append(b, `],"probabilities":[`...)
		for i, row := range p.Proba {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for k, v := range row {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendFloat(b, v)
			}
			b = append(b, ']')
		}
	} else {
		for i, v := range p.Value {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, v)
		}
	}
	b = append(b, `],"request_id":"`...)
	b = append(b, id...) // hex digits
	return append(b, "\"}\n"...)
}

// appendFloat writes v as encoding/json does (null for a NaN or an
// infinity, which JSON cannot hold).
func appendFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7, as encoding/json writes it.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
