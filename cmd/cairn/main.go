// Command cairn runs ML workflows: validate and run YAML workflow files,
// list and inspect runs, read task logs, cancel and resume runs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"

	"github.com/cairnml/cairn/tasks/proctree"
)

// memProfileRate is the process's runtime.MemProfileRate when
// CAIRN_DEBUG_ADDR is debugAddr. Go samples an allocation every 512 KiB
// for heap profiles, which only a server's /debug/pprof/ serves: each
// sample unwinds the stack and keeps it in memory mapped for it, a page
// fault of its own at first (170 of a 10,000-task run's 4,700). Off
// unless the profiles are served.
func memProfileRate(debugAddr string) int {
	if debugAddr == "" {
		return 0
	}
	return 512 << 10
}

// signalsReady is closed once this process catches SIGINT and SIGTERM;
// nil when run is called in process (tests), with nothing to wait for.
var signalsReady chan struct{}

func main() {
	runtime.MemProfileRate = memProfileRate(os.Getenv(envDebugAddr))
	takeHandedOff()
	hardenProcess()
	ctx, cancel := context.WithCancelCause(context.Background())
	var caught atomic.Int32 // the first signal, 0 if none
	sigs := make(chan os.Signal, 2)
	signalsReady = make(chan struct{})
	go func() {
		// Catching signals starts a thread of os/signal's own, which
		// takes a while (0.6 ms on a busy 2-CPU machine): the command
		// starts meanwhile, and waits for it before its first change of
		// state (awaitSignals).
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		close(signalsReady)
		// The first signal cancels the command's context: `run` records
		// the cancellation and waits, within a bound, for its tasks.
		s := toSignal(<-sigs)
		caught.Store(int32(s))
		cancel(interrupted{s})
		// The second stops at once. Shell commands and plugin processes
		// die with the process (Pdeathsig); a run whose cancellation was
		// not recorded yet is left as after kill -9, for 'cairn resume'.
		again := toSignal(<-sigs)
		fmt.Fprintf(os.Stderr, "\ncairn: %s again: stopping now\n", signalName(again))
		os.Exit(128 + int(s))
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	// The emptied cgroups kept for the next shell attempts are left to
	// the next cairn process only when this one dies.
	proctree.RemoveIdle()
	if s := caught.Load(); s != 0 {
		// A command ended by a signal says so, as shells expect: 130 for
		// SIGINT, 143 for SIGTERM.
		code = 128 + int(s)
	}
	os.Exit(code)
}

// awaitSignals returns once Ctrl-C and SIGTERM are caught. A command calls
// it before it changes anything (opens the database for writing, talks to
// a server), so that a signal from then on is handled (a run's
// cancellation recorded) rather than ending the process at once.
func awaitSignals() {
	if signalsReady != nil {
		<-signalsReady
	}
}

func toSignal(s os.Signal) syscall.Signal {
	if ss, ok := s.(syscall.Signal); ok {
		return ss
	}
	return syscall.SIGINT
}

// interrupted is the cause of a command's context that a signal ended.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return "interrupted by " + signalName(i.sig) }

// signalName is how a user sends sig: Ctrl-C for SIGINT.
func signalName(sig syscall.Signal) string {
	if sig == syscall.SIGINT {
		return "Ctrl-C"
	}
	return "SIGTERM"
}
