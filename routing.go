package cairn

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Routing: a task may require labels of the worker that runs it
// (`labels: {gpu: "true"}`) and wait in a named queue (`queue: NAME`); a
// worker offers labels and serves queues (LeaseRequest.Labels, Queues).
// A worker may take a task when every label the task requires is among
// the worker's, with the same value, and the task's queue is among the
// worker's queues — the default queue (DefaultQueue, stored as "") when
// the worker names none.

// DefaultQueue is how the default queue is written in a workflow file and
// on the command line; it is stored and carried as "".
const DefaultQueue = "default"

// MaxLabels is the most labels a task may require or a worker offer, and
// the most queues a worker may serve.
const MaxLabels = 32

// MaxLabelLen is the longest label key, label value or queue name.
const MaxLabelLen = 63

// LabelSyntax and QueueSyntax say in words what CheckLabel and
// CheckQueue accept, for error messages and help.
const (
	LabelSyntax = "a label's key is 1 to 63 letters, digits, '.', '_', '-' or '/', and its value 1 to 63 letters, digits, '.', '_' or '-', each beginning and ending with a letter or digit"
	QueueSyntax = "a queue's name is 1 to 63 letters, digits, '.', '_' or '-', beginning and ending with a letter or digit"
)

// checkName checks the shared shape of label keys, values and queue
// names; slash allows '/' (label keys only).
func checkName(s string, slash bool) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	// The characters first (a rune, not a byte of it: 'é', '\u202e'),
	// then the length: only ASCII is allowed, so bytes are characters.
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '-' || (slash && c == '/'):
			if i == 0 || i == len(s)-1 {
				return fmt.Errorf("must begin and end with a letter or digit")
			}
		default:
			return fmt.Errorf("has %q, which is not allowed", c)
		}
	}
	if len(s) > MaxLabelLen {
		return fmt.Errorf("is %d characters long, over %d", len(s), MaxLabelLen)
	}
	return nil
}

// CheckLabel reports whether key=value is a valid label (LabelSyntax).
func CheckLabel(key, value string) error {
	if err := checkName(key, true); err != nil {
		return fmt.Errorf("label key %q %w", key, err)
	}
	if err := checkName(value, false); err != nil {
		return fmt.Errorf("label %s: value %q %w", key, value, err)
	}
	return nil
}

// CheckLabels checks every label and their number.
func CheckLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%d labels, over the limit of %d", len(labels), MaxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if err := CheckLabel(k, labels[k]); err != nil {
			return err
		}
	}
	return nil
}

// CheckRoute checks a task's labels and queue (stored name, "" the
// default queue), as a store does before it writes them.
func CheckRoute(labels map[string]string, queue string) error {
	if err := CheckLabels(labels); err != nil {
		return err
	}
	if queue != "" {
		return CheckQueue(queue)
	}
	return nil
}

// CheckQueue reports whether name is a valid queue name (QueueSyntax).
// DefaultQueue is one.
func CheckQueue(name string) error {
	if err := checkName(name, false); err != nil {
		return fmt.Errorf("queue %q %w", name, err)
	}
	return nil
}

// StoredQueue is the queue name as stored and carried: "" for
// DefaultQueue, name otherwise.
func StoredQueue(name string) string {
	if name == DefaultQueue {
		return ""
	}
	return name
}

// QueueName is the queue name as written: DefaultQueue for "".
func QueueName(stored string) string {
	if stored == "" {
		return DefaultQueue
	}
	return stored
}

// ParseLabels reads labels written as "k=v,k2=v2" (a --labels flag);
// "" is none. Every label is checked (CheckLabel); a key given twice is
// an error.
func ParseLabels(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("label %q is not KEY=VALUE (e.g. gpu=true)", part)
		}
		if err := CheckLabel(k, v); err != nil {
			return nil, fmt.Errorf("%w (%s)", err, LabelSyntax)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("label %s is given twice", k)
		}
		out[k] = v
	}
	if len(out) > MaxLabels {
		return nil, fmt.Errorf("%d labels, over the limit of %d", len(out), MaxLabels)
	}
	return out, nil
}

// ParseQueues reads queue names written as "a,b" (a --queues flag), in
// their stored form (DefaultQueue as ""), sorted and without repeats; ""
// is none (the default queue only).
func ParseQueues(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, q := range strings.Split(s, ",") {
		q = strings.TrimSpace(q)
		if err := CheckQueue(q); err != nil {
			return nil, fmt.Errorf("%w (%s)", err, QueueSyntax)
		}
		out = append(out, StoredQueue(q))
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxLabels {
		return nil, fmt.Errorf("%d queues, over the limit of %d", len(out), MaxLabels)
	}
	return out, nil
}

// FormatLabels writes labels as ParseLabels reads them, keys sorted; ""
// for none.
func FormatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(k + "=" + labels[k])
	}
	return sb.String()
}

// FormatQueues writes stored queue names as ParseQueues reads them
// (DefaultQueue for "", and for none).
func FormatQueues(queues []string) string {
	if len(queues) == 0 {
		return DefaultQueue
	}
	names := make([]string, len(queues))
	for i, q := range queues {
		names[i] = QueueName(q)
	}
	return strings.Join(names, ",")
}

// Serves reports whether a worker offering labels and serving queues
// (stored names; none: the default queue only) may take a task that
// requires taskLabels and waits in queue taskQueue (stored name).
func Serves(labels map[string]string, queues []string, taskLabels map[string]string, taskQueue string) bool {
	if len(queues) == 0 {
		if taskQueue != "" {
			return false
		}
	} else if !slices.Contains(queues, taskQueue) {
		return false
	}
	for k, v := range taskLabels {
		if w, ok := labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// HasType reports whether a worker that can run types (nil: it did not
// say, so any) may take a task of type typ.
func HasType(types []string, typ string) bool {
	return types == nil || slices.Contains(types, typ)
}

// Takes reports whether r may be handed a task of type taskType that
// requires taskLabels and waits in queue taskQueue: always with
// r.AnyTask, else Serves and HasType.
func (r LeaseRequest) Takes(taskLabels map[string]string, taskQueue, taskType string) bool {
	return r.AnyTask || (Serves(r.Labels, r.Queues, taskLabels, taskQueue) && HasType(r.Types, taskType))
}

// SameRoute reports whether a and b take the same tasks by their routing
// fields (AnyTask, Labels, Queues, Types).
func (r LeaseRequest) SameRoute(o LeaseRequest) bool {
	return r.AnyTask == o.AnyTask && maps.Equal(r.Labels, o.Labels) && slices.Equal(r.Queues, o.Queues) &&
		(r.Types == nil) == (o.Types == nil) && slices.Equal(r.Types, o.Types)
}

// maxNameInLine bounds a worker's name in WhyWaiting's line.
const maxNameInLine = 40

// WhyWaiting says, in one line, why a ready task of type typ that
// requires labels and waits in queue (stored name) is not leased, when
// none of workers that are live at now may take it: "waiting: no live
// worker has gpu=true (2 live workers: a, b)", "… has gpu=true and runs
// type kmeans (…)" when the workers that serve its labels and queue all
// lack its type ("no live worker runs type kmeans" for a task of the
// default queue without labels). It is "" when one of them may. Workers are named by
// Name, else ID, cut to 40 characters; at most 5 are named.
func WhyWaiting(labels map[string]string, queue, typ string, workers []Worker, now time.Time) string {
	var (
		live               []string
		routeOK, anyHasTyp bool
	)
	for _, w := range workers {
		if !w.Live(now) {
			continue
		}
		if w.State == WorkerActive {
			serves, has := Serves(w.Labels, w.Queues, labels, queue), HasType(w.Types, typ)
			if serves && has {
				return ""
			}
			routeOK, anyHasTyp = routeOK || serves, anyHasTyp || has
		}
		name := w.Name
		if name == "" {
			name = w.ID
		}
		if r := []rune(name); len(r) > maxNameInLine {
			name = string(r[:maxNameInLine-1]) + "…"
		}
		live = append(live, name)
	}
	var need []string
	if len(labels) > 0 {
		need = append(need, "has "+FormatLabels(labels))
	}
	if queue != "" {
		need = append(need, "takes queue "+queue)
	} else if len(labels) == 0 && !routeOK {
		need = append(need, "takes the default queue")
	}
	if typ != "" && (routeOK || (!anyHasTyp && len(live) > 0)) {
		need = append(need, "runs type "+typ)
	}
	var who string
	switch n := len(live); {
	case n == 0:
		who = "no live workers"
	case n == 1:
		who = "1 live worker: " + live[0]
	case n <= 5:
		who = fmt.Sprintf("%d live workers: %s", n, strings.Join(live, ", "))
	default:
		who = fmt.Sprintf("%d live workers: %s, …", n, strings.Join(live[:5], ", "))
	}
	return fmt.Sprintf("waiting: no live worker %s (%s)", strings.Join(need, " and "), who)
}

// Routed reports whether a task requires something of its worker: labels,
// or a queue other than the default one.
func Routed(labels map[string]string, queue string) bool { return len(labels) > 0 || queue != "" }
