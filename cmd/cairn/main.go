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

// The signals main catches (Ctrl-C and SIGTERM): the first it caught
// (0 if none), and what stopSignals needs to end their goroutine. nil
// when run is called in process (tests).
var (
	caughtSignal atomic.Int32
	signalCh     chan os.Signal
	signalQuit   chan struct{} // closed by stopSignals
	signalDone   chan struct{} // closed when the goroutine has returned
)

func main() {
	runtime.MemProfileRate = memProfileRate(os.Getenv(envDebugAddr))
	takeHandedOff()
	hardenProcess()
	ctx, cancel := context.WithCancelCause(context.Background())
	signalCh = make(chan os.Signal, 2)
	signalQuit, signalDone = make(chan struct{}), make(chan struct{})
	signalsReady = make(chan struct{})
	go func() {
		defer close(signalDone)
		// Catching signals starts a thread of os/signal's own, which
		// takes a while (0.6 ms on a busy 2-CPU machine): the command
		// starts meanwhile, and waits for it before its first change of
		// state (awaitSignals).
		signal.Notify(signalCh, os.Interrupt, syscall.SIGTERM)
		close(signalsReady)
		// The first signal cancels the command's context: `run` records
		// the cancellation and waits, within a bound, for its tasks.
		var s syscall.Signal
		select {
		case got := <-signalCh:
			s = toSignal(got)
		case <-signalQuit:
			return
		}
		caughtSignal.Store(int32(s))
		cancel(interrupted{s})
		// The second stops at once. Shell commands and plugin processes
		// die with the process (Pdeathsig); a run whose cancellation was
		// not recorded yet is left as after kill -9, for 'cairn resume'.
		var again syscall.Signal
		select {
		case got := <-signalCh:
			again = toSignal(got)
		case <-signalQuit:
			return
		}
		fmt.Fprintf(os.Stderr, "\ncairn: %s again: stopping now\n", signalName(again))
		os.Exit(128 + int(s))
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	// The emptied cgroups kept for the next shell attempts are left to
	// the next cairn process only when this one dies.
	proctree.RemoveIdle()
	if s := caughtSignal.Load(); s != 0 {
		// A command ended by a signal says so, as shells expect: 130 for
		// SIGINT, 143 for SIGTERM.
		code = 128 + int(s)
	}
	os.Exit(code)
}

// stopSignals gives Ctrl-C and SIGTERM back to their default action (the
// process ends at once) and returns the first of them this process caught
// before, 0 if none: a command about to exec another program (the lean
// build's hand-off) must not lose one, and then has nothing to record.
func stopSignals() syscall.Signal {
	if signalCh == nil {
		return 0
	}
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	<-signalsReady
	close(signalQuit)
	<-signalDone
	if s := caughtSignal.Load(); s != 0 {
		return syscall.Signal(s)
	}
	// One delivered before the reset that the goroutine left in the
	// channel when it chose to quit.
	select {
	case got := <-signalCh:
		s := toSignal(got)
		caughtSignal.Store(int32(s))
		return s
	default:
		return 0
	}
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
