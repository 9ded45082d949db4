package tasks_test

import (
	"context"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// counted is a task type that counts the calls of its Info.
type counted struct {
	calls *int
	cache cairn.CachePolicy
}

func (c counted) Info() cairn.TypeInfo {
	*c.calls++
	return cairn.TypeInfo{Name: "counted", Cache: c.cache}
}

func (counted) Run(context.Context, tasks.Request, tasks.Env) (tasks.Result, error) {
	return tasks.Result{}, nil
}

// A type's caching policy is read from its Info once, when it is
// registered: a workflow's parse asks for it of every task, and an Info
// is built at each call.
func TestCachePolicyReadOnce(t *testing.T) {
	for _, policy := range []cairn.CachePolicy{cairn.CacheAuto, cairn.CacheNever, cairn.CacheOptIn} {
		calls := 0
		r, err := tasks.NewRegistry(counted{calls: &calls, cache: policy})
		if err != nil {
			t.Fatal(err)
		}
		wantOn, wantWhy := tasks.CacheDefaultOf(cairn.TypeInfo{Name: "counted", Cache: policy})
		for range 100 {
			if on, why := r.CacheDefault("counted", nil); on != wantOn || why != wantWhy {
				t.Fatalf("%s: CacheDefault = %v %q, want %v %q", policy, on, why, wantOn, wantWhy)
			}
			if got, ok := r.CachePolicyOf("counted"); !ok || got != policy {
				t.Fatalf("CachePolicyOf = %q %v, want %q", got, ok, policy)
			}
		}
		if calls != 1 {
			t.Errorf("%s: Info called %d times for 100 CacheDefault and CachePolicyOf, want once (at Register)", policy, calls)
		}
		if _, ok := r.CachePolicyOf("nope"); ok {
			t.Error("CachePolicyOf of an unknown type said it is known")
		}
	}
}
