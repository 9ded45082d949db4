package shell

import (
	"fmt"

	"github.com/cairnml/cairn/tasks/proctree"
)

// NewSweeping returns the shell type with its attempts' processes held by
// the sweep, not a cgroup: the fallback, forced.
func NewSweeping() *Task { return &Task{tree: proctree.Options{NoCgroup: true}} }

// NewViaSh returns the shell type with every script run by /bin/sh, none
// directly.
func NewViaSh() *Task { return &Task{noDirect: true} }

// SimpleWords is simpleWords, for the tests.
var SimpleWords = simpleWords

// DirectSh is directSh, for the tests.
var DirectSh = directSh

// Direct reports whether script runs without a shell in workdir wd with
// the extra variables env (as the env param gives them).
func Direct(script, wd string, env map[string]any) bool {
	vars := baseEnv()
	for k, v := range env {
		vars[k] = fmt.Sprint(v)
	}
	_, _, _, ok := direct(script, vars, wd)
	return ok
}
