package plugins

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"runtime"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/cairnml/cairn/plugins/internal/wire"
	"github.com/cairnml/cairn/tasks/proctree"
)

// proc is one running plugin process. It serves one attempt at a time, so
// that its stderr belongs to that attempt's log and the variables of the
// attempt's env: param (which the SDK sets process-wide) to that attempt:
// Host.acquire takes a proc out of the idle list (or starts one) for one
// Run or ValidateParams call, and only Host.release, after the call has
// returned, puts it back.
type proc struct {
	client    *goplugin.Client
	cancel    context.CancelFunc // ends cmd's context, once the process is gone
	gone      chan struct{}      // closed by kill: start's goroutine may leave its thread
	unlocked  chan struct{}      // closed when it has
	goneOnce  sync.Once
	wc        *wire.Client
	cmd       *exec.Cmd
	out       *output
	idleSince time.Time
	cold      bool // started for the attempt it is about to run
	// tree holds the process and everything it starts: the children of
	// an attempt die at its end (clean), all of them when it is killed.
	tree *proctree.Tree
}

// start starts the process (go-plugin's start and handshake) from a
// goroutine that keeps its OS thread until the process has been reaped:
// the kernel sends the parent-death signal (deathsig_linux.go) when the
// thread that forked the child exits, not the process, and the runtime
// retires a thread when a goroutine locked to it exits; a plugin forked
// from a thread some such goroutine later took would be killed with it.
func (pr *proc) start() (goplugin.ClientProtocol, error) {
	pr.gone = make(chan struct{})
	pr.unlocked = make(chan struct{})
	type started struct {
		rpc goplugin.ClientProtocol
		err error
	}
	ch := make(chan started, 1)
	go func() {
		defer close(pr.unlocked)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		rpc, err := pr.client.Client()
		ch <- started{rpc, err}
		<-pr.gone // closed by kill, once the process has exited
	}()
	s := <-ch
	return s.rpc, s.err
}

// killWait is how long kill lets go-plugin stop a process that
// connected (its graceful shutdown, 2 s, then a kill) before it kills the
// process's group and tree itself.
const killWait = 3 * time.Second

// kill stops the process and waits until it has exited and its stderr
// has been copied out. go-plugin's Kill signals the process alone and
// then reads its stdout and stderr to the end before it reaps it: a
// process the plugin started (a wrapper script's child) that keeps them
// open would hold Kill for its life. So if Kill has not returned in
// killWait — at once for a process that never connected, which has no
// graceful shutdown — the process's group and its tree (cgroup or sweep)
// are killed, which closes the pipes.
func (pr *proc) kill() {
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		pr.client.Kill()
	}()
	wait := killWait
	if pr.wc == nil {
		wait = 0
	}
	t := time.NewTimer(wait)
	select {
	case <-killed:
	case <-t.C:
		if pr.cmd.Process != nil {
			killGroup(pr.cmd.Process.Pid)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = pr.tree.Kill(ctx)
		cancel()
		<-killed
	}
	t.Stop()
	pr.cancel()
	pr.goneOnce.Do(func() {
		if pr.gone != nil {
			close(pr.gone)
			<-pr.unlocked
		}
	})
	if pr.wc != nil {
		<-pr.wc.Served()
	}
	// What the plugin started, wherever it went: nothing outlives it.
	_ = pr.tree.Close()
}

// clean kills every process the plugin process started (an attempt's
// children, setsid or orphaned ones too), but not the process itself, and
// waits until they are gone. A process whose children cannot be stopped
// must not serve again.
func (pr *proc) clean(marks ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pr.tree.KillExcept(ctx, pr.cmd.Process.Pid, marks...)
}

// tailBytes is how much of a process's last output is kept for errors.
const tailBytes = 2048

// output takes a plugin process's stderr (and the stdout and stderr its
// go-plugin server forwards): to the running attempt's log, and the last
// tailBytes for error messages.
type output struct {
	mu   sync.Mutex
	w    io.Writer
	tail []byte
}

// attach sends further output to w (nil: only the tail).
func (o *output) attach(w io.Writer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w = w
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w != nil {
		o.w.Write(p) // a log that fails must not break the process's pipe
	}
	o.tail = append(o.tail, p...)
	if len(o.tail) > tailBytes {
		o.tail = o.tail[len(o.tail)-tailBytes:]
	}
	return len(p), nil
}

// tailNote is the process's last output, as a suffix for an error.
func (o *output) tailNote() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := bytes.TrimSpace(o.tail)
	if len(t) == 0 {
		return ""
	}
	return "; its output ended with:\n" + string(t)
}
