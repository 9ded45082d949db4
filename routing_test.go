package cairn

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels(" gpu=true, zone=eu-west-1 ,example.com/acc=a100")
	want := map[string]string{"gpu": "true", "zone": "eu-west-1", "example.com/acc": "a100"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseLabels = %v, %v", got, err)
	}
	if s := FormatLabels(got); s != "example.com/acc=a100,gpu=true,zone=eu-west-1" {
		t.Errorf("FormatLabels = %q", s)
	}
	if got, err := ParseLabels(""); got != nil || err != nil {
		t.Errorf(`ParseLabels("") = %v, %v`, got, err)
	}
	for in, why := range map[string]string{
		"gpu":                          "not KEY=VALUE",
		"gpu=":                         "empty",
		"=x":                           "empty",
		"gpu=a b":                      "' '",
		"gpu=1,gpu=2":                  "twice",
		"-gpu=1":                       "begin and end",
		"gpu=x/y":                      "'/'",
		"k=" + strings.Repeat("v", 64): "over 63",
	} {
		if _, err := ParseLabels(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseLabels(%q) = %v, want an error saying %q", in, err, why)
		}
	}
	many := make([]string, MaxLabels+1)
	for i := range many {
		many[i] = "k" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "=v"
	}
	if _, err := ParseLabels(strings.Join(many, ",")); err == nil {
		t.Errorf("ParseLabels of %d labels succeeded", len(many))
	}
}

func TestParseQueues(t *testing.T) {
	got, err := ParseQueues("gpu, default,batch,gpu")
	if err != nil || !reflect.DeepEqual(got, []string{"", "batch", "gpu"}) {
		t.Fatalf("ParseQueues = %q, %v", got, err)
	}
	if s := FormatQueues(got); s != "default,batch,gpu" {
		t.Errorf("FormatQueues = %q", s)
	}
	if s := FormatQueues(nil); s != DefaultQueue {
		t.Errorf("FormatQueues(nil) = %q", s)
	}
	for _, bad := range []string{"a b", ",", "x;y", "-q"} {
		if _, err := ParseQueues(bad); err == nil {
			t.Errorf("ParseQueues(%q) succeeded", bad)
		}
	}
}

func TestServes(t *testing.T) {
	gpu := map[string]string{"gpu": "true"}
	cases := []struct {
		labels     map[string]string
		queues     []string
		taskLabels map[string]string
		taskQueue  string
		want       bool
	}{
		{nil, nil, nil, "", true},
		{nil, nil, gpu, "", false},
		{gpu, nil, gpu, "", true},
		{map[string]string{"gpu": "false"}, nil, gpu, "", false},
		{map[string]string{"gpu": "true", "zone": "eu"}, nil, gpu, "", true},
		{gpu, nil, map[string]string{"gpu": "true", "zone": "eu"}, "", false},
		{nil, nil, nil, "batch", false},
		{nil, []string{"batch"}, nil, "batch", true},
		{nil, []string{"batch"}, nil, "", false},
		{nil, []string{"", "batch"}, nil, "", true},
	}
	for _, c := range cases {
		if got := Serves(c.labels, c.queues, c.taskLabels, c.taskQueue); got != c.want {
			t.Errorf("Serves(%v, %q, %v, %q) = %v", c.labels, c.queues, c.taskLabels, c.taskQueue, got)
		}
		r := LeaseRequest{Labels: c.labels, Queues: c.queues}
		if r.Takes(c.taskLabels, c.taskQueue, "kmeans") != c.want {
			t.Errorf("Takes differs from Serves for %+v", c)
		}
		r.Types = []string{"noop", "train"} // declared, without kmeans
		if r.Takes(c.taskLabels, c.taskQueue, "kmeans") {
			t.Errorf("a worker without type kmeans takes a kmeans task: %+v", c)
		}
		if r.Takes(c.taskLabels, c.taskQueue, "train") != c.want {
			t.Errorf("types declared, the type among them: Takes differs from Serves for %+v", c)
		}
		r.AnyTask = true
		if !r.Takes(c.taskLabels, c.taskQueue, "kmeans") {
			t.Errorf("AnyTask does not take %+v", c)
		}
	}
}

// A worker's types take part in its route: nil (it did not say) differs
// from none at all, and leases of workers alike are shared only when
// their types are the same.
func TestSameRouteTypes(t *testing.T) {
	a := LeaseRequest{Labels: map[string]string{"gpu": "true"}}
	b := a
	if !a.SameRoute(b) {
		t.Fatal("the same request is not the same route")
	}
	b.Types = []string{}
	if a.SameRoute(b) {
		t.Error("no types said and no types at all are the same route")
	}
	a.Types, b.Types = []string{"noop", "train"}, []string{"noop"}
	if a.SameRoute(b) {
		t.Error("other types are the same route")
	}
	b.Types = []string{"noop", "train"}
	if !a.SameRoute(b) {
		t.Error("the same types are not the same route")
	}
	if !HasType(nil, "anything") || HasType([]string{}, "noop") || !HasType([]string{"noop"}, "noop") {
		t.Error("HasType: nil takes any type, an empty list none, a list its own")
	}
}

func TestWhyWaiting(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	live := func(name string, labels map[string]string, queues ...string) Worker {
		return Worker{ID: "w-" + name, Name: name, Labels: labels, Queues: queues, State: WorkerActive, ExpiresAt: now.Add(time.Minute)}
	}
	gpu := map[string]string{"gpu": "true"}
	a, b := live("a", nil), live("b", map[string]string{"gpu": "false"}, "batch")
	gone := live("c", gpu)
	gone.ExpiresAt = now.Add(-time.Second) // expired: not live
	stopped := live("d", gpu)
	stopped.State = WorkerStopped
	draining := live("e", gpu)
	draining.State = WorkerDraining // live, but leases nothing more
	ws := []Worker{a, b, gone, stopped, draining}
	cases := []struct {
		labels map[string]string
		queue  string
		want   string
	}{
		{gpu, "", "waiting: no live worker has gpu=true (3 live workers: a, b, e)"},
		{nil, "gpu-jobs", "waiting: no live worker takes queue gpu-jobs (3 live workers: a, b, e)"},
		{gpu, "batch", "waiting: no live worker has gpu=true and takes queue batch (3 live workers: a, b, e)"},
		{nil, "", ""},
		{nil, "batch", ""},
	}
	for _, c := range cases {
		if got := WhyWaiting(c.labels, c.queue, "noop", ws, now); got != c.want {
			t.Errorf("WhyWaiting(%v, %q) = %q, want %q", c.labels, c.queue, got, c.want)
		}
	}
	if got := WhyWaiting(nil, "", "noop", nil, now); got != "waiting: no live worker takes the default queue (no live workers)" {
		t.Errorf("no workers: %q", got)
	}
	if got := WhyWaiting(gpu, "", "noop", []Worker{live("only", nil)}, now); got != "waiting: no live worker has gpu=true (1 live worker: only)" {
		t.Errorf("one worker: %q", got)
	}
	long := live(strings.Repeat("x", 50), nil)
	if got := WhyWaiting(gpu, "", "noop", []Worker{long}, now); !strings.Contains(got, "(1 live worker: "+strings.Repeat("x", 39)+"…)") {
		t.Errorf("a long name: %q", got)
	}
	six := []Worker{live("a", nil), live("b", nil), live("c", nil), live("d", nil), live("e", nil), live("f", nil)}
	if got := WhyWaiting(gpu, "", "noop", six, now); !strings.HasSuffix(got, "(6 live workers: a, b, c, d, e, …)") {
		t.Errorf("six workers: %q", got)
	}
	if got := WhyWaiting(gpu, "", "noop", []Worker{gone, live("g", gpu)}, now); got != "" {
		t.Errorf("a live gpu worker: %q", got)
	}
	// Types: the gpu worker lacks kmeans; another has it but not gpu=true.
	g := live("g", gpu)
	g.Types = []string{"noop", "train"}
	if got := WhyWaiting(gpu, "", "kmeans", []Worker{g}, now); got != "waiting: no live worker has gpu=true and runs type kmeans (1 live worker: g)" {
		t.Errorf("the gpu worker lacks the type: %q", got)
	}
	k := live("k", nil)
	k.Types = []string{"kmeans", "noop"}
	if got := WhyWaiting(gpu, "", "kmeans", []Worker{k}, now); got != "waiting: no live worker has gpu=true (1 live worker: k)" {
		t.Errorf("a kmeans worker without gpu=true: %q", got)
	}
	if got := WhyWaiting(gpu, "", "train", []Worker{g}, now); got != "" {
		t.Errorf("the gpu worker has train: %q", got)
	}
	if got := WhyWaiting(gpu, "", "kmeans", []Worker{live("old", gpu)}, now); got != "" {
		t.Errorf("a worker that did not say its types takes any: %q", got)
	}
	g.Labels = nil
	if got := WhyWaiting(gpu, "", "kmeans", []Worker{g}, now); got != "waiting: no live worker has gpu=true and runs type kmeans (1 live worker: g)" {
		t.Errorf("neither labels nor type: %q", got)
	}
}

// The character refused is the one written, not the first byte of its
// UTF-8 (found by the trial: 'café' was said to hold 'Ã').
func TestCheckLabelNamesTheRune(t *testing.T) {
	for _, c := range []struct{ key, value, want string }{
		{"gpu", "café", `value "café" has 'é', which is not allowed`},
		{"a\u202eb", "x", `has '\u202e', which is not allowed`},
		{"gpu", strings.Repeat("a", 64), "is 64 characters long, over 63"},
		{"gpu", strings.Repeat("é", 40), `has 'é'`},
	} {
		err := CheckLabel(c.key, c.value)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckLabel(%q, %.10q): %v, want …%s…", c.key, c.value, err, c.want)
		}
	}
}

// A task of the default queue without labels that no live worker can run
// for its type: the line names the type alone.
func TestWhyWaitingTypeOnly(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	w := Worker{ID: "w-1", Name: "no-plugin", State: WorkerActive, ExpiresAt: now.Add(time.Minute), Types: []string{"noop", "shell"}}
	if got := WhyWaiting(nil, "", "kmeans", []Worker{w}, now); got != "waiting: no live worker runs type kmeans (1 live worker: no-plugin)" {
		t.Errorf("got %q", got)
	}
	if got := WhyWaiting(nil, "", "shell", []Worker{w}, now); got != "" {
		t.Errorf("the worker has shell: %q", got)
	}
}
