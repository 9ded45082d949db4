package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/ml/plot"
)

// rocCurve is one curve of evaluate's `roc` output.
type rocCurve struct {
	Class string    `json:"class"`
	AUC   float64   `json:"auc"`
	FPR   []float64 `json:"fpr"`
	TPR   []float64 `json:"tpr"`
}

// printPlots draws, under a task in `cairn show`, the pictures its outputs
// hold: today the ROC curves of an evaluate task, as braille text.
func printPlots(w io.Writer, tr *cairn.TaskRun) {
	raw, ok := tr.Outputs["roc"]
	if tr.Type != "evaluate" || !ok {
		return
	}
	var curves []rocCurve
	if json.Unmarshal(raw, &curves) != nil || len(curves) == 0 {
		return
	}
	series := make([]plot.Series, len(curves))
	for i, c := range curves {
		name := c.Class
		if !strings.HasPrefix(name, "class") {
			name = "class " + name
		}
		series[i] = plot.Series{Name: fmt.Sprintf("%s: AUC %.4f", name, c.AUC), X: c.FPR, Y: c.TPR}
	}
	text, err := plot.ROC("ROC", series...).Text(40, 10)
	if err != nil {
		return // not a curve this binary can draw; the output above has the numbers
	}
	fmt.Fprintln(w)
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
