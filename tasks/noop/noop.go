package noop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// Task is the noop task type. The zero value is ready to use.
type Task struct{}

var (
	_ tasks.Task      = (*Task)(nil)
	_ tasks.NoScratch = (*Task)(nil)
)

// New returns the noop task type.
func New() *Task { return &Task{} }

// NoScratch says that noop's attempts need no scratch directory.
func (*Task) NoScratch() {}

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "noop",
		Cache:   cairn.CacheNever,
		Summary: "Does nothing; optionally sleeps, panics or fails, for testing.",
		Params: []cairn.ParamInfo{
			{Name: "sleep", Kind: cairn.KindDuration, Doc: "wait this long before finishing; cancellation ends the wait with an error"},
			{Name: "panic", Kind: cairn.KindBool, Doc: "panic after the sleep"},
			{Name: "fail", Kind: cairn.KindString, Doc: "fail after the sleep with this message, as a retryable error"},
		},
	}
}

type params struct {
	Sleep tasks.Duration `json:"sleep"`
	Panic bool           `json:"panic"`
	Fail  string         `json:"fail"`
}

// Run sleeps, panics or fails as its params say, and otherwise succeeds with
// no outputs. It returns ctx's error (context.Canceled or
// context.DeadlineExceeded, wrapped) if ctx ends first, a permanent error
// for bad params, and a plain error with the `fail` message.
func (*Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	var p params
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("noop: %w", err)
	}
	if p.Sleep > 0 {
		timer := time.NewTimer(time.Duration(p.Sleep))
		select {
		case <-ctx.Done():
			timer.Stop()
			return tasks.Result{}, fmt.Errorf("noop: sleep interrupted: %w", context.Cause(ctx))
		case <-timer.C:
		}
	}
	if p.Panic {
		panic("noop: panic requested by params")
	}
	if p.Fail != "" {
		return tasks.Result{}, errors.New(p.Fail)
	}
	return tasks.Result{}, nil
}
