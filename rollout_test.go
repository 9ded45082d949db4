package cairn_test

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// TestRoutingTenPercent: 10,000 request keys at a 10% canary go to the
// candidate 10% ± 1% of the time, and to the same version on every run
// (the buckets are fixed values: a change of the hash moves users
// between versions, which a rollout must never do silently).
func TestRoutingTenPercent(t *testing.T) {
	n := 0
	var first []bool
	for i := 0; i < 10000; i++ {
		to := cairn.ToCandidate("churn", "user-"+strconv.Itoa(i), 10)
		first = append(first, to)
		if to {
			n++
		}
	}
	if n < 900 || n > 1100 {
		t.Fatalf("%d of 10,000 keys to a 10%% canary, want 900 to 1,100", n)
	}
	for i := 0; i < 10000; i++ {
		if cairn.ToCandidate("churn", "user-"+strconv.Itoa(i), 10) != first[i] {
			t.Fatalf("key %d routed differently the second time", i)
		}
	}
	// Fixed buckets: the same on every machine and every build.
	for key, want := range map[string]int{"user-0": cairn.RouteBucket("churn", "user-0"), "": cairn.RouteBucket("churn", "")} {
		if got := cairn.RouteBucket("churn", key); got != want || got < 0 || got >= 10000 {
			t.Fatalf("bucket of %q: %d", key, got)
		}
	}
	if b := cairn.RouteBucket("churn", "user-42"); b != 9520 {
		t.Fatalf("bucket of user-42 is %d, was 9520: the routing hash changed, which moves users between versions", b)
	}
	// Sticky across shares: a key on the candidate at 10% stays there at
	// 25% (a canary's steps only add keys).
	for i := 0; i < 10000; i++ {
		k := "user-" + strconv.Itoa(i)
		if cairn.ToCandidate("churn", k, 10) && !cairn.ToCandidate("churn", k, 25) {
			t.Fatalf("key %s left the candidate when its share grew", k)
		}
	}
	// 0% and 100%.
	if cairn.ToCandidate("churn", "x", 0) || !cairn.ToCandidate("churn", "x", 100) {
		t.Fatal("0% or 100% routed wrong")
	}
	// Two models split the same keys independently.
	same := 0
	for i := 0; i < 10000; i++ {
		k := "user-" + strconv.Itoa(i)
		if cairn.ToCandidate("churn", k, 50) == cairn.ToCandidate("fraud", k, 50) {
			same++
		}
	}
	if same < 4700 || same > 5300 {
		t.Fatalf("two models agree on %d of 10,000 keys at 50%%: not independent", same)
	}
}

func TestRolloutSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		spec cairn.RolloutSpec
		want string
	}{
		{cairn.RolloutSpec{Strategy: "blue-green"}, `strategy "blue-green" is not one of direct, canary, shadow, ab`},
		{cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{0, 100}}, "steps[0]: a canary share is a percentage from 1 to 100, got 0"},
		{cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 101}}, "steps[1]: a canary share is a percentage from 1 to 100, got 101"},
		{cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{50, 20, 100}}, "steps[1]: the shares must increase"},
		{cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 50}}, "steps: the last share must be 100"},
		{cairn.RolloutSpec{Strategy: cairn.StrategyAB, Split: 120}, "split: the candidate's share is a percentage from 0 to 100, got 120"},
		{cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Interval: cairn.Duration(time.Millisecond)}, "interval: want a duration from 1s to 168h"},
		{cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Tolerance: 1.5}, "tolerance: want a share from 0 to 1"},
	} {
		err := tc.spec.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.want)
		}
	}
	d := cairn.RolloutSpec{Strategy: cairn.StrategyCanary}.WithDefaults()
	if err := d.Validate(); err != nil || len(d.Steps) != 4 || time.Duration(d.Interval) != cairn.DefaultRolloutInterval {
		t.Fatalf("defaults: %+v %v", d, err)
	}
	b, _ := json.Marshal(d)
	var back cairn.RolloutSpec
	if err := json.Unmarshal(b, &back); err != nil || back.Interval != d.Interval || len(back.Steps) != 4 {
		t.Fatalf("round trip %s: %+v %v", b, back, err)
	}
}

// A live metric whose errors summed past the range of a float64 is no
// figure (not +Inf, which no JSON answer can carry).
func TestLiveMetricNotFinite(t *testing.T) {
	st := cairn.RequestStats{Kind: "regression", Labeled: 2, Score: math.Inf(1)}
	if name, v, ok := st.LiveMetric(); ok || name != "mae" {
		t.Fatalf("LiveMetric of an infinite sum = %s %v %v, want mae and no figure", name, v, ok)
	}
	st.Score = 3
	if _, v, ok := st.LiveMetric(); !ok || v != 1.5 {
		t.Fatalf("LiveMetric = %v %v, want 1.5", v, ok)
	}
}
