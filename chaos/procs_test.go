package chaos_test

// The driver of the process scenarios: the real cairn binary and the probe
// plugin built once, cairn server and cairn worker processes started,
// SIGKILLed, SIGSTOPped and SIGCONTed, and restarted.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bins are the binaries the process scenarios run, built once per test
// binary into a directory TestMain removes.
var bins struct {
	once         sync.Once
	dir          string
	cairn, probe string
	err          error
}

func TestMain(m *testing.M) {
	flag.Parse()
	// The build takes a while on a loaded machine: begin it now, beside
	// the in-process scenarios, when process scenarios are to run.
	if run := flag.Lookup("test.run").Value.String(); run == "" || strings.Contains(run, "Kill") ||
		strings.Contains(run, "Cron") || strings.Contains(run, "WorkerLoss") {
		go bins.once.Do(build)
	}
	code := m.Run()
	bins.once.Do(func() {}) // a build begun above has ended
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// binaries builds cmd/cairn and chaos/cairn-probe (once) and returns their
// paths. CAIRN_CHAOS_BIN names a cairn binary to attack instead of
// building one (make chaos gives it bin/cairn).
func binaries(t *testing.T) (cairnBin, probeBin string) {
	t.Helper()
	bins.once.Do(build)
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.cairn, bins.probe
}

// build builds the binaries into bins (once, through bins.once).
func build() {
	if bins.dir, bins.err = os.MkdirTemp("", "cairn-chaos-"); bins.err != nil {
		return
	}
	bins.cairn, bins.probe = filepath.Join(bins.dir, "cairn"), filepath.Join(bins.dir, "cairn-probe")
	todo := [][2]string{{bins.cairn, "../cmd/cairn"}, {bins.probe, "./cairn-probe"}}
	if bin := os.Getenv("CAIRN_CHAOS_BIN"); bin != "" {
		if bins.cairn, bins.err = filepath.Abs(bin); bins.err != nil {
			return
		}
		todo = todo[1:]
	}
	for _, b := range todo {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
			return
		}
	}
}

// cairnHelp is `cairn help [command]`'s text, "" when the command is
// unknown: what the scenarios ask to know which pieces have landed.
func cairnHelp(t *testing.T, command ...string) string {
	t.Helper()
	bin, _ := binaries(t)
	out, err := exec.Command(bin, append([]string{"help"}, command...)...).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// proc is one cairn process the driver runs: started, killed, stopped and
// continued, restarted with the same arguments. Its output goes to a
// file, kept for a failing test.
type proc struct {
	t    *testing.T
	name string
	args []string
	env  []string
	logf string

	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
	out       *lockedBuffer // the current incarnation's stderr
	starts    int
	stoppedAt time.Time // zero unless SIGSTOPped
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newProc(t *testing.T, name string, env []string, args ...string) *proc {
	p := &proc{t: t, name: name, args: args, env: env, logf: filepath.Join(t.TempDir(), name+".log")}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			if b, err := os.ReadFile(p.logf); err == nil {
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("last lines of %s's log (%d starts):\n%s", name, p.starts, strings.Join(lines[max(0, len(lines)-15):], "\n"))
			}
		}
	})
	return p
}

// start starts a new incarnation.
func (p *proc) start() {
	p.t.Helper()
	bin, _ := binaries(p.t)
	f, err := os.OpenFile(p.logf, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "--- start %d of %s\n", p.starts+1, p.name)
	out := &lockedBuffer{}
	cmd := exec.Command(bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, io.MultiWriter(f, out)
	// Its own process group, so that a kill -9 of the test leaves no
	// server behind (the cleanup kills the group).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done, p.out, p.stoppedAt = cmd, done, out, time.Time{}
	p.starts++
	p.mu.Unlock()
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

func (p *proc) exited() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// kill9 SIGKILLs the process (continued first if stopped, which SIGKILL
// does not need, but the bookkeeping does) and waits for it to be gone.
func (p *proc) kill9() time.Time {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.stoppedAt = time.Time{}
	p.mu.Unlock()
	at := time.Now()
	cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s (pid %d) still there 10s after SIGKILL", p.name, cmd.Process.Pid)
	}
	return at
}

// stop sends SIGSTOP; cont SIGCONT.
func (p *proc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGSTOP)
	p.stoppedAt = time.Now()
}

func (p *proc) cont() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGCONT)
	p.stoppedAt = time.Time{}
}

// kill ends the process group for good, at cleanup.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
	<-done
}

// term sends SIGTERM and waits up to d for the process to exit.
func (p *proc) term(d time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(d):
		p.t.Errorf("%s did not stop within %s of SIGTERM", p.name, d)
		p.kill()
	}
}

// logLine waits up to d for the current incarnation to log a JSON line
// whose msg is msg, and returns it.
func (p *proc) logLine(d time.Duration, msg string) map[string]any {
	p.t.Helper()
	end := time.Now().Add(d)
	for {
		p.mu.Lock()
		out := p.out
		p.mu.Unlock()
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == msg {
				return l
			}
		}
		if p.exited() {
			p.t.Fatalf("%s exited before logging %q:\n%s", p.name, msg, out.String())
		}
		if time.Now().After(end) {
			p.t.Fatalf("%s did not log %q within %s:\n%s", p.name, msg, d, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cairnCmd runs a short cairn command and returns its stdout.
func cairnCmd(t *testing.T, env []string, args ...string) string {
	t.Helper()
	bin, _ := binaries(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cairn %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// installProbe puts the probe plugin into home's plugins folder and pins
// it in home's lock file, as docs/plugins.md says.
func installProbe(t *testing.T, home string) {
	t.Helper()
	_, probe := binaries(t)
	b, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "plugins", "cairn-probe"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	cairnCmd(t, nil, "--home", home, "plugins", "lock")
}

// ownerPid is the pid in a claim's or worker's name "host:pid:nonce".
func ownerPid(owner string) int {
	parts := strings.Split(owner, ":")
	if len(parts) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(parts[len(parts)-2])
	return n
}
