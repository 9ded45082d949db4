package ui

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"math"
	"sort"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/ml/plot"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

// Windows of the charts over time: from a little before the rollout
// began (or the last few hours without one), at most a day.
const (
	overTimeDefault = 3 * time.Hour
	overTimeMax     = 24 * time.Hour
	overTimeLead    = 10 * time.Minute
	// maxDistClasses is the classes the prediction chart draws (the most
	// predicted).
	maxDistClasses = 3
)

// overTime is the models page's charts over time, per version.
type overTime struct {
	Since  time.Time
	Charts []metricChart // requests, p99, errors, live, predictions: the ones with data
}

// overTimeWindow is where the charts over time begin: a little before
// rollout r began, or overTimeDefault ago, and not over overTimeMax.
func overTimeWindow(r *runjson.Rollout, now time.Time) time.Time {
	since := now.Add(-overTimeDefault)
	if r != nil && r.StartedAt.After(now.Add(-overTimeMax)) {
		since = r.StartedAt.Add(-overTimeLead)
	}
	return since.Truncate(time.Minute)
}

// overTimeCharts draws model name's minutes since since: requests per
// minute, p99 latency, error rate, the live metric (the feedback of each
// minute) and the distribution of predictions, one line per version.
func overTimeCharts(ctx context.Context, mr core.MinuteReader, name string, since, now time.Time) (*overTime, error) {
	ms, err := mr.ModelMinutes(ctx, name, since)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, nil
	}
	byVersion := map[int][]cairn.ModelMinute{}
	var versions []int
	for _, m := range ms {
		if _, ok := byVersion[m.Version]; !ok {
			versions = append(versions, m.Version)
		}
		byVersion[m.Version] = append(byVersion[m.Version], m)
	}
	sort.Ints(versions)
	x := func(m cairn.ModelMinute) float64 { return m.Minute.Sub(since).Minutes() }
	xmax := math.Max(now.Sub(since).Minutes(), 1)
	xlabel := fmt.Sprintf("minutes since %s UTC", since.UTC().Format("2006-01-02 15:04"))
	series := func(y func(m cairn.ModelMinute) (float64, bool)) []plot.Series {
		var out []plot.Series
		for _, v := range versions {
			s := plot.Series{Name: fmt.Sprintf("version %d", v), Markers: true}
			for _, m := range byVersion[v] {
				if val, ok := y(m); ok && !math.IsNaN(val) && !math.IsInf(val, 0) {
					s.X, s.Y = append(s.X, x(m)), append(s.Y, val)
				}
			}
			if len(s.X) > 0 {
				out = append(out, s)
			}
		}
		return out
	}
	ot := &overTime{Since: since}
	add := func(key, title, ylabel string, ss []plot.Series, ymin, ymax float64) {
		if len(ss) == 0 {
			return
		}
		if math.IsNaN(ymax) {
			ymin, ymax = yRange(ss)
		}
		ch := plot.Chart{Title: title, XLabel: xlabel, YLabel: ylabel, XMin: 0, XMax: xmax * 1.02, YMin: ymin, YMax: ymax, Series: ss}
		var b bytes.Buffer
		if ch.SVG(&b) == nil {
			ot.Charts = append(ot.Charts, metricChart{Metric: key, SVG: template.HTML(b.String())})
		}
	}
	served := func(m cairn.ModelMinute) bool { return m.Requests > 0 }
	add("requests", "requests per minute", "requests", series(func(m cairn.ModelMinute) (float64, bool) { return float64(m.Requests), served(m) }), 0, math.NaN())
	add("p99", "p99 latency", "ms", series(func(m cairn.ModelMinute) (float64, bool) {
		return float64(m.P99.Microseconds()) / 1000, served(m)
	}), 0, math.NaN())
	add("errors", "error rate", "% of requests", series(func(m cairn.ModelMinute) (float64, bool) { return 100 * m.Stats().ErrorRate(), served(m) }), 0, 100)
	metric := ""
	live := series(func(m cairn.ModelMinute) (float64, bool) {
		name, v, ok := m.Stats().LiveMetric()
		if ok && m.Labeled > 0 {
			metric = name
		}
		return v, ok && m.Labeled > 0
	})
	if metric == "accuracy" {
		add("live", "live accuracy (feedback of the minute)", "accuracy", live, 0, 1)
	} else {
		add("live", "live "+metric+" (feedback of the minute)", metric, live, 0, math.NaN())
	}
	add("predictions", predictionTitle(ms), "", predictionSeries(ms, versions, byVersion, x), 0, math.NaN())
	return ot, nil
}

// predictionTitle names the prediction chart: a classifier's share of its
// most predicted classes, or a regressor's mean prediction.
func predictionTitle(ms []cairn.ModelMinute) string {
	for _, m := range ms {
		if m.Kind == "regression" {
			return "mean prediction"
		}
	}
	return "share of the predictions per class (%)"
}

// predictionSeries is the distribution of the predictions over time: for
// a regressor each version's mean prediction, for a classifier each
// version's share of the maxDistClasses classes predicted most.
func predictionSeries(ms []cairn.ModelMinute, versions []int, byVersion map[int][]cairn.ModelMinute, x func(cairn.ModelMinute) float64) []plot.Series {
	if predictionTitle(ms) == "mean prediction" {
		var out []plot.Series
		for _, v := range versions {
			s := plot.Series{Name: fmt.Sprintf("version %d", v), Markers: true}
			for _, m := range byVersion[v] {
				if m.Dist.N > 0 {
					s.X, s.Y = append(s.X, x(m)), append(s.Y, m.Dist.Mean())
				}
			}
			if len(s.X) > 0 {
				out = append(out, s)
			}
		}
		return out
	}
	total := map[string]int{}
	for _, m := range ms {
		for c, n := range m.Dist.Classes {
			total[c] += n
		}
	}
	classes := make([]string, 0, len(total))
	for c := range total {
		classes = append(classes, c)
	}
	sort.Slice(classes, func(i, j int) bool {
		if total[classes[i]] != total[classes[j]] {
			return total[classes[i]] > total[classes[j]]
		}
		return classes[i] < classes[j]
	})
	if len(classes) > maxDistClasses {
		classes = classes[:maxDistClasses]
	}
	var out []plot.Series
	for _, v := range versions {
		for _, c := range classes {
			s := plot.Series{Name: fmt.Sprintf("version %d: %s", v, c), Markers: true}
			for _, m := range byVersion[v] {
				n := 0
				for _, k := range m.Dist.Classes {
					n += k
				}
				if n > 0 {
					s.X, s.Y = append(s.X, x(m)), append(s.Y, 100*float64(m.Dist.Classes[c])/float64(n))
				}
			}
			if len(s.X) > 0 {
				out = append(out, s)
			}
		}
	}
	return out
}

// yRange is an axis from 0 (or the least value, when below) to a little
// over the greatest value of ss.
func yRange(ss []plot.Series) (float64, float64) {
	lo, hi := 0.0, 0.0
	for _, s := range ss {
		for _, y := range s.Y {
			lo, hi = math.Min(lo, y), math.Max(hi, y)
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	return lo, hi + (hi-lo)/10
}
