package serve

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/model"
)

// The candidate's predictions written in a shadow worker's arena read
// back as each request's own, whatever the arena's arrays hold around
// them: an estimate too short (long class labels) moves on to a new
// array, and a slice cannot be appended to over the next one.
func TestPredArenaKeepsEachRequests(t *testing.T) {
	long := strings.Repeat("x", 3000)
	cls := &loaded{classes: [][]byte{[]byte(`"a"`), []byte(`"` + long + `"`)}, list: []byte(`"classes":["a","` + long + `"]`)}
	reg := &loaded{}
	var a predArena
	var got [][]byte
	var want []string
	for i := range 200 {
		var p *model.Prediction
		var l *loaded
		var w string
		switch i % 3 {
		case 0:
			l, p, w = cls, &model.Prediction{Class: []int{0, 0}}, `["a","a"]`
		case 1:
			l, p, w = cls, &model.Prediction{Class: []int{1}}, `["`+long+`"]`
		default:
			l, p, w = reg, &model.Prediction{Value: []float64{float64(i), 0.5}}, fmt.Sprintf("[%d,0.5]", i)
		}
		rows := max(len(p.Class), len(p.Value))
		got = append(got, a.add(l, p, 8*rows+2))
		want = append(want, w)
	}
	for i := range got {
		if string(got[i]) != want[i] {
			t.Fatalf("request %d: %.40q, want %.40q", i, got[i], want[i])
		}
		if cap(got[i]) != len(got[i]) {
			t.Fatalf("request %d: capacity %d past its %d bytes: an append would write over the next one's", i, cap(got[i]), len(got[i]))
		}
	}
	_ = append(got[0], "junk"...)
	if string(got[1]) != want[1] {
		t.Fatal("an append to one request's predictions changed the next one's")
	}
}
