package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

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
// hold: today an evaluate task's confusion matrix as a table and its ROC
// curves as braille text.
func printPlots(w io.Writer, tr *cairn.TaskRun) {
	if tr.Type == "retrain" {
		printDrift(w, tr.Outputs["drift"])
		return
	}
	if tr.Type != "evaluate" {
		return
	}
	printConfusion(w, tr.Outputs["confusion_matrix"])
	raw, ok := tr.Outputs["roc"]
	if !ok {
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

// printConfusion prints evaluate's confusion_matrix output as a table.
func printConfusion(w io.Writer, raw json.RawMessage) {
	var cm struct {
		Classes []string `json:"classes"`
		Matrix  [][]int  `json:"matrix"`
	}
	if json.Unmarshal(raw, &cm) != nil || len(cm.Classes) == 0 || len(cm.Matrix) != len(cm.Classes) {
		return
	}
	fmt.Fprintf(w, "\n  confusion matrix (rows: true class, columns: predicted)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "  \t")
	for _, c := range cm.Classes {
		fmt.Fprintf(tw, "%s\t", c)
	}
	fmt.Fprintln(tw)
	for i, row := range cm.Matrix {
		if len(row) != len(cm.Classes) {
			return
		}
		fmt.Fprintf(tw, "  %s\t", cm.Classes[i])
		for _, n := range row {
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// printDrift prints retrain's drift output as a table: per feature its
// test, statistic, p-value, PSI and verdict.
func printDrift(w io.Writer, raw json.RawMessage) {
	var d struct {
		PSIThreshold float64 `json:"psi_threshold"`
		Features     []struct {
			Name      string  `json:"name"`
			Test      string  `json:"test"`
			Statistic float64 `json:"statistic"`
			PValue    float64 `json:"p_value"`
			PSI       float64 `json:"psi"`
			Drifted   bool    `json:"drifted"`
		} `json:"features"`
	}
	if json.Unmarshal(raw, &d) != nil || len(d.Features) == 0 {
		return
	}
	fmt.Fprintf(w, "\n  drift per feature (PSI threshold %g)\n", d.PSIThreshold)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FEATURE\tTEST\tSTATISTIC\tP-VALUE\tPSI\tDRIFTED")
	for _, f := range d.Features {
		drifted := "no"
		if f.Drifted {
			drifted = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.4g\t%.3g\t%.4g\t%s\n", printable(f.Name), printable(f.Test), f.Statistic, f.PValue, f.PSI, drifted)
	}
	tw.Flush()
}
