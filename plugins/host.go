package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/plugins/internal/wire"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/proctree"
)

// Options configures a Host.
type Options struct {
	// Dir is the plugins folder; every entry is a candidate plugin binary.
	Dir string
	// LockFile pins the binaries by sha256 (see Lock). Without it no
	// plugin is started.
	LockFile string
	// IdleTimeout is how long a plugin process is kept running without
	// work before it is stopped (default 1 minute).
	IdleTimeout time.Duration
	// StartTimeout bounds a plugin process's start and handshake
	// (default 10 s).
	StartTimeout time.Duration
	// KillGrace is how long an attempt's plugin has, once the attempt's
	// context ends, to return before its process is killed (default 2 s).
	KillGrace time.Duration
	// Env holds NAME=value variables given to every plugin process on top
	// of the minimal environment (PATH, HOME, TMPDIR, LANG).
	Env []string
	// NoCgroup holds the processes a plugin starts by the sweep of
	// tasks/proctree, not a cgroup per plugin process, even where cgroup
	// v2 can be written (tests of the fallback).
	NoCgroup bool
}

// Plugin describes one entry of the plugins folder and what became of it.
type Plugin struct {
	Name   string // file name in the plugins folder
	Path   string
	SHA256 string // lowercase hex of the binary, "" if it could not be read
	// Version is the plugin's own version, Protocol the wire protocol
	// version it was started with; both zero unless it loaded.
	Version  string
	Protocol int
	// Types are the task types it provides, sorted by name.
	Types []cairn.TypeInfo
	// Err is why the entry is not loaded; nil if it is.
	Err error
}

// Host discovers, verifies and runs plugins. It keeps plugin processes
// running between attempts, up to Options.IdleTimeout, and stops them all
// at Close. Its task types (Lookup, Compose) are safe for concurrent use.
type Host struct {
	o      Options
	ctx    context.Context // the host's life: ends when Close begins
	cancel context.CancelFunc
	wg     sync.WaitGroup // the reaper

	mu     sync.Mutex
	closed bool
	busy   sync.WaitGroup // attempts and validations in flight; added to only while !closed
	kills  sync.WaitGroup // kills handed to goroutines

	plugins  []*plugin
	types    map[string]*servedType
	problems []error
	cache    *cache // the copies of the pinned binaries, which are what runs

	// sockets is the folder the plugin processes make their gRPC sockets
	// in (go-plugin's PLUGIN_UNIX_SOCKET_DIR), made at the first start and
	// removed by Close: named as an attempt's scratch folder is, for this
	// process (executor.MakeScratch), so that what a host killed with -9
	// leaves — a socket its plugin process, killed with it, never removed —
	// is swept by the next command that runs attempts
	// (executor.SweepScratch), rather than left in the temporary folder.
	sockets   string
	socketErr error

	afterRelease func() // tests: runs after an attempt released its process
}

// plugin is a loaded (or refused) plugin and its processes.
type plugin struct {
	Plugin
	served       []*servedType // set by load
	typeProblems []error       // types load refused, the plugin being loaded
	mu           sync.Mutex
	idle         []*proc
	live         map[*proc]bool
	closed       bool
	// failed is the last start of a process that failed (not one its
	// caller gave up on), at failedAt: for startBackoff no process of p
	// is started again, so that a plugin that hangs at start costs one
	// start timeout, not one per attempt or validation.
	failed   error
	failedAt time.Time
}

// startBackoff is how long after a failed start a plugin is not started
// again: the rest of a command, or a minute of a server's life.
const startBackoff = time.Minute

type servedType struct {
	p    *plugin
	task tasks.Task
}

// Open scans the plugins folder, checks every binary against the lock
// file, starts the pinned ones and asks each for its task types; the first
// process of each stays running for the first attempts. Problems with one
// entry (not executable, not a plugin, not pinned, a checksum mismatch, a
// protocol mismatch, two plugins claiming one type) are recorded in
// Problems and the others still load; Open fails only if the folder cannot
// be read or ctx ends. Close the Host when done.
func Open(ctx context.Context, o Options) (*Host, error) {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = time.Minute
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.KillGrace <= 0 {
		o.KillGrace = 2 * time.Second
	}
	// Absolute, so that no path the host executes or reports depends on
	// the working directory (or on $PATH, for a bare file name).
	for _, f := range []*string{&o.Dir, &o.LockFile} {
		abs, err := filepath.Abs(*f)
		if err != nil {
			return nil, fmt.Errorf("load plugins: %w", err)
		}
		*f = abs
	}
	// The lock is read once, before the folder: pinned binaries are
	// copied into the cache as they are hashed, and only the copies run.
	lock, lockErr := ReadLock(o.LockFile)
	if errors.Is(lockErr, fs.ErrNotExist) {
		lockErr = fmt.Errorf("there is no lock file %s, and no plugin binary is started before it is pinned there: review the plugins folder, then run 'cairn plugins lock'", o.LockFile)
	} else if err := checkLockPerms(o.LockFile); err != nil && lockErr == nil {
		lockErr = err
	}
	var c *cache
	var cacheErr error
	if lockErr == nil && len(lock) > 0 {
		c, cacheErr = openCache(o.LockFile)
	}
	entries, err := scan(ctx, o.Dir, func(name string, r io.Reader) (string, error) {
		pin, ok := lock[name]
		if !ok || c == nil || c.has(pin) {
			return hashOf(r)
		}
		return c.copyIn(r, pin)
	})
	if err != nil {
		return nil, err
	}
	if c != nil {
		c.prune(lock)
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &Host{o: o, ctx: hctx, cancel: cancel, types: map[string]*servedType{}, cache: c}

	var wg sync.WaitGroup
	for _, e := range entries {
		p := &plugin{Plugin: Plugin{Name: e.Name, Path: e.Path, SHA256: e.SHA256, Err: e.Err}, live: map[*proc]bool{}}
		h.plugins = append(h.plugins, p)
		if p.Err != nil {
			continue
		}
		pinned, ok := lock[e.Name]
		switch {
		case lockErr != nil:
			p.Err = fmt.Errorf("plugin %s not started: %w", e.Name, lockErr)
		case !ok:
			p.Err = fmt.Errorf("plugin %s not started: it is not pinned in %s; if you trust it, run 'cairn plugins lock'", e.Name, o.LockFile)
		case pinned != e.SHA256:
			p.Err = fmt.Errorf("plugin %s not started: its sha256 is %s but %s pins %s: the binary changed since it was pinned; if the new binary is trusted, run 'cairn plugins lock'", e.Name, e.SHA256, o.LockFile, pinned)
		case cacheErr != nil:
			p.Err = fmt.Errorf("plugin %s not started: %w", e.Name, cacheErr)
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.Err = h.load(ctx, p)
			}()
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		h.Close()
		return nil, err
	}
	if w := folderWarning(o.Dir); w != nil {
		h.problems = append(h.problems, w)
	}
	for _, p := range h.plugins {
		if p.Err != nil {
			h.problems = append(h.problems, p.Err)
		} else {
			h.problems = append(h.problems, p.typeProblems...)
		}
	}
	// A pin without its binary: a plugin expected and not there.
	found := map[string]bool{}
	for _, e := range entries {
		found[e.Name] = true
	}
	var missing []string
	for name := range lock {
		if !found[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		h.problems = append(h.problems, fmt.Errorf("plugin %s is pinned in %s, but the plugins folder %s has no such file: put the binary back, or run 'cairn plugins lock' to pin the folder as it is", name, o.LockFile, o.Dir))
	}
	h.index()
	h.wg.Add(1)
	go h.reap()
	return h, nil
}

// load starts p's first process and asks it for its types.
func (h *Host) load(ctx context.Context, p *plugin) error {
	pr, err := h.start(ctx, p)
	if err != nil {
		h.startFailed(ctx, p, err)
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, h.o.StartTimeout)
	defer cancel()
	version, types, err := pr.wc.Describe(dctx)
	if err == nil && len(types) == 0 {
		err = errors.New("it provides no task types")
	}
	if err == nil {
		err = wire.CheckVersion(version)
	}
	if err != nil {
		h.retire(p, pr)
		return fmt.Errorf("plugin %s: %w%s", p.Name, err, pr.out.tailNote())
	}
	p.Version, p.Protocol = version, pr.client.NegotiatedVersion()
	for _, t := range types {
		p.Types = append(p.Types, t.Info)
	}
	sort.Slice(p.Types, func(i, j int) bool { return p.Types[i].Name < p.Types[j].Name })
	for _, t := range types {
		st := &servedType{p: p}
		name := t.Info.Name
		ref := cairn.PluginRef{Name: p.Name, Version: p.Version, SHA256: p.SHA256, Protocol: p.Protocol}
		task, err := wire.Adapt(t, ref,
			func(ctx context.Context, req tasks.Request, env tasks.Env, vars map[string]string) (tasks.Result, error) {
				return h.run(ctx, p, name, req, env, vars)
			},
			func(params map[string]any) []tasks.ParamError { return h.validate(p, name, params) })
		if err != nil {
			// The plugin's other types still load.
			p.typeProblems = append(p.typeProblems, fmt.Errorf("plugin %s: %w; the type is not served", p.Name, err))
			continue
		}
		if vt, ok := task.(validatingTask); ok {
			task = reapingTask{vt}
		}
		st.task = task
		p.served = append(p.served, st)
	}
	if len(p.served) == 0 {
		h.retire(p, pr)
		p.Version, p.Protocol = "", 0
		return errors.Join(p.typeProblems...)
	}
	p.mu.Lock()
	p.live[pr] = true
	p.mu.Unlock()
	h.releaseClean(p, pr)
	return nil
}

// validatingTask is what wire.Adapt returns.
type validatingTask interface {
	tasks.Task
	tasks.ParamValidator
}

// reapingTask is a plugin-served type that, like shell, cleans up after an
// attempt whose worker died: the plugin process died with it (its
// parent-death signal), but processes the attempt started carry its marks
// (set in the plugin's environment for the attempt) and are killed before
// the task is retried.
type reapingTask struct{ validatingTask }

var (
	_ tasks.OrphanReaper = reapingTask{}
	_ tasks.Versioned    = reapingTask{}
)

// ImplVersion is the version of the adapted type (tasks.Versioned).
func (t reapingTask) ImplVersion() string {
	if v, ok := t.validatingTask.(tasks.Versioned); ok {
		return v.ImplVersion()
	}
	return ""
}

// ReapOrphans kills every process carrying the attempt's marks, and
// their descendants.
func (reapingTask) ReapOrphans(ctx context.Context, runID, taskID string, attempt int) error {
	marks := attemptMarks(runID, taskID, attempt)
	if err := proctree.Marked(ctx, marks); err != nil {
		return fmt.Errorf("find processes of %s/%s attempt %d: %w", runID, taskID, attempt, err)
	}
	return nil
}

// attemptMarks are the environment entries the processes an attempt
// starts inherit.
func attemptMarks(runID, taskID string, attempt int) []string {
	return []string{"CAIRN_RUN_ID=" + runID, "CAIRN_TASK_ID=" + taskID, "CAIRN_ATTEMPT=" + strconv.Itoa(attempt)}
}

// index keeps each type served by exactly one plugin; a type claimed by
// several is served by none, and reported.
func (h *Host) index() {
	claims := map[string][]*servedType{}
	for _, p := range h.plugins {
		if p.Err != nil {
			continue
		}
		for _, st := range p.served {
			name := st.task.Info().Name
			claims[name] = append(claims[name], st)
		}
	}
	names := make([]string, 0, len(claims))
	for n := range claims {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cs := claims[n]
		if len(cs) == 1 {
			h.types[n] = cs[0]
			continue
		}
		var who []string
		for _, c := range cs {
			who = append(who, c.p.Name)
		}
		sort.Strings(who)
		h.problems = append(h.problems, fmt.Errorf("task type %q is provided by several plugins (%s): none of them serves it until all but one are removed from the plugins folder", n, strings.Join(who, ", ")))
	}
}

// Plugins describes every entry of the plugins folder, sorted by name.
func (h *Host) Plugins() []Plugin {
	out := make([]Plugin, len(h.plugins))
	for i, p := range h.plugins {
		out[i] = p.Plugin
	}
	return out
}

// Problems lists what went wrong loading the plugins folder, one error per
// refused entry or conflicting type, in folder order.
func (h *Host) Problems() []error { return append([]error(nil), h.problems...) }

// Names lists the task types the plugins serve, sorted.
func (h *Host) Names() []string {
	names := make([]string, 0, len(h.types))
	for n := range h.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the plugin-served task type called name.
func (h *Host) Lookup(name string) (tasks.Task, bool) {
	st, ok := h.types[name]
	if !ok {
		return nil, false
	}
	return st.task, true
}

// Compose registers the plugins' task types in reg, which holds the
// built-in ones. A type reg already has stays the built-in, and is
// reported in the returned errors; every other type is registered.
func (h *Host) Compose(reg *tasks.Registry) []error {
	var errs []error
	for _, n := range h.Names() {
		st := h.types[n]
		if _, builtin := reg.Lookup(n); builtin {
			errs = append(errs, fmt.Errorf("plugin %s provides task type %q, which is built in: the built-in type is used; rename the plugin's type", st.p.Name, n))
			continue
		}
		if err := reg.Register(st.task); err != nil {
			errs = append(errs, fmt.Errorf("plugin %s: %w", st.p.Name, err))
		}
	}
	return errs
}

// ErrClosed is the error of an attempt the host stopped because it was
// being closed (errors.Is); the attempt may be retried.
var ErrClosed = errors.New("plugin host closed")

// Close stops every plugin process and waits for them to exit. Attempts
// still running are cancelled first (a Cancel, then up to
// Options.KillGrace for the task to return, as when their own context
// ends) and fail with ErrClosed; a process still starting is killed. When
// Close returns, no process of the host is left.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	for _, p := range h.plugins {
		p.mu.Lock()
		p.closed = true // from now on a released or new process is killed
		p.mu.Unlock()
	}
	h.cancel() // cancels the attempts in flight and aborts starts
	h.busy.Wait()
	h.wg.Wait()
	for _, p := range h.plugins {
		p.mu.Lock()
		for pr := range p.live {
			h.goKill(pr)
		}
		p.live = map[*proc]bool{}
		p.idle = nil
		p.mu.Unlock()
	}
	h.kills.Wait()
	h.mu.Lock()
	dir := h.sockets
	h.mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
	return nil
}

// maxSocketPath is the longest socket path a plugin's listener may be
// given: sun_path holds 108 bytes with its NUL on Linux, 104 on the BSDs.
// go-plugin names a socket pluginN (N up to 10 digits) in its folder.
const maxSocketPath = 103

// socketDir is the folder of the plugin processes' sockets, made at the
// first call; "" (go-plugin then uses the plugin's temporary folder) when
// it cannot be made, or when a socket in it would have too long a path.
func (h *Host) socketDir() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sockets != "" || h.socketErr != nil {
		return h.sockets
	}
	dir, err := executor.MakeScratch("")
	if err == nil && len(dir)+len("/plugin")+10 > maxSocketPath {
		os.Remove(dir)
		err = fmt.Errorf("socket folder %s: too long a path for a socket", dir)
	}
	if err != nil {
		h.socketErr = err
		return ""
	}
	h.sockets = dir
	return dir
}

// enter counts an attempt or validation in, unless the host is closed.
func (h *Host) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.busy.Add(1)
	return true
}

// goKill kills pr in a goroutine Close waits for.
func (h *Host) goKill(pr *proc) {
	h.kills.Add(1)
	go func() {
		defer h.kills.Done()
		pr.kill()
	}()
}

// reap stops processes idle for longer than the idle timeout.
func (h *Host) reap() {
	defer h.wg.Done()
	every := min(h.o.IdleTimeout/2, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for _, p := range h.plugins {
			var stale []*proc
			p.mu.Lock()
			keep := p.idle[:0]
			for _, pr := range p.idle {
				if now.Sub(pr.idleSince) >= h.o.IdleTimeout {
					stale = append(stale, pr)
					delete(p.live, pr)
				} else {
					keep = append(keep, pr)
				}
			}
			p.idle = keep
			p.mu.Unlock()
			for _, pr := range stale {
				pr.kill()
			}
		}
	}
}

// env is a plugin process's whole environment: the minimal one, then
// Options.Env. go-plugin adds its handshake variables.
func (h *Host) env() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{"PATH=" + path}
	for _, k := range []string{"HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, h.o.Env...)
}

// start starts a process of p. It executes p's copy in the cache, never
// the file in the plugins folder, and go-plugin's SecureConfig hashes the
// copy right before exec. A copy that is gone or fails that check is made
// again from the plugins folder, if the binary there still matches its pin.
func (h *Host) start(ctx context.Context, p *plugin) (*proc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sum, err := hex.DecodeString(p.SHA256)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: bad pin: %w", p.Name, err)
	}
	for try := 1; ; try++ {
		if err := h.cache.materialize(p.Path, p.SHA256); err != nil {
			if errors.Is(err, errChanged) {
				return nil, cairn.Permanentf("plugin %s not started: the binary no longer matches its pinned sha256 %s, and cairn's copy of the pinned one is gone (the binary changed after cairn read the plugins folder; if the new one is trusted, run 'cairn plugins lock')", p.Name, p.SHA256)
			}
			return nil, fmt.Errorf("plugin %s not started: %w", p.Name, err)
		}
		pr, err := h.startCopy(ctx, p, sum)
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) && try == 1 {
			os.Remove(h.cache.path(p.SHA256)) // damaged: copy it again
			continue
		}
		return pr, err
	}
}

// startCopy starts a process of p's copy in the cache, whose sha256 is
// sum. When ctx ends during the start, the process is killed.
func (h *Host) startCopy(ctx context.Context, p *plugin, sum []byte) (*proc, error) {
	// The process's own context, ended only once it has been stopped:
	// os/exec kills the process when it ends, which is the one way to
	// abort go-plugin's start, and it must not end while the process
	// serves.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	cmd := exec.CommandContext(pctx, h.cache.path(p.SHA256))
	cmd.Args[0] = p.Path // the plugin's name for itself stays its file's
	cmd.Env = h.env()
	if dir := h.socketDir(); dir != "" {
		cmd.Env = append(cmd.Env, goplugin.EnvUnixSocketDir+"="+dir)
	}
	setDeathSignal(cmd)
	// Bounds Wait once the process exited or pctx ended. (go-plugin
	// reads the pipes to the end before it calls Wait: a process the
	// plugin started that keeps them is ended by kill.)
	cmd.WaitDelay = killWait
	tree, err := proctree.New("plugin."+p.Name, nil, proctree.Options{NoCgroup: h.o.NoCgroup})
	if err != nil {
		pcancel()
		return nil, fmt.Errorf("plugin %s not started: %w", p.Name, err)
	}
	tree.Prepare(cmd)
	out := &output{}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake(wire.ProtocolVersion),
		VersionedPlugins: wire.PluginSets(),
		Cmd:              cmd,
		SecureConfig:     &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		GRPCDialOptions:  wire.DialOptions(),
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     h.o.StartTimeout,
		Stderr:           out,
		SyncStdout:       out,
		SyncStderr:       out,
		Logger:           hclog.NewNullLogger(),
	})
	pr := &proc{client: client, cmd: cmd, out: out, cancel: pcancel, tree: tree}
	abort := context.AfterFunc(ctx, pcancel)
	rpc, err := pr.start()
	if cmd.Process != nil {
		tree.Started(cmd.Process.Pid)
	}
	if !abort() && err == nil {
		err = fmt.Errorf("start aborted: %w", context.Cause(ctx))
	}
	if err != nil {
		pr.kill()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("plugin %s: start: %w", p.Name, context.Cause(ctx))
		}
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("plugin %s not started: cairn's copy %s of the binary does not match its pinned sha256 %s: %w", p.Name, h.cache.path(p.SHA256), p.SHA256, err)
		}
		hint := ""
		if strings.Contains(err.Error(), "incompatible API version") {
			hint = fmt.Sprintf(" (this cairn speaks plugin protocol version %d: rebuild the plugin against a matching plugins/sdk)", wire.ProtocolVersion)
		} else if strings.Contains(err.Error(), "Unrecognized remote plugin message") || strings.Contains(err.Error(), "exited before we could connect") || strings.Contains(err.Error(), "timeout while waiting") {
			hint = " (is it a cairn plugin? a plugin's main calls sdk.Serve)"
		}
		return nil, fmt.Errorf("plugin %s: start: %w%s%s", p.Name, err, hint, out.tailNote())
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		pr.kill()
		return nil, fmt.Errorf("plugin %s: %w%s", p.Name, err, out.tailNote())
	}
	wc, ok := raw.(*wire.Client)
	if !ok {
		pr.kill()
		return nil, fmt.Errorf("plugin %s: dispensed %T, not a task plugin", p.Name, raw)
	}
	pr.wc = wc
	return pr, nil
}

// acquire returns an idle process of p, or starts one.
func (h *Host) acquire(ctx context.Context, p *plugin) (*proc, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, fmt.Errorf("plugin %s: %w", p.Name, ErrClosed)
		}
		if n := len(p.idle); n > 0 {
			pr := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			if pr.client.Exited() {
				h.retire(p, pr)
				continue
			}
			if ctx.Err() != nil {
				h.release(p, pr)
				return nil, context.Cause(ctx)
			}
			return pr, nil
		}
		failed, since := p.failed, time.Since(p.failedAt)
		p.mu.Unlock()
		if failed != nil && since < startBackoff {
			return nil, fmt.Errorf("%w (not started again %s after that failed start)", failed, since.Round(time.Second))
		}
		break
	}
	pr, err := h.start(ctx, p)
	if err != nil {
		h.startFailed(ctx, p, err)
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		h.goKill(pr)
		return nil, fmt.Errorf("plugin %s: %w", p.Name, ErrClosed)
	}
	p.live[pr] = true
	pr.cold = true
	return pr, nil
}

// startFailed records a failed start of a process of p, unless ctx had
// ended (the caller gave up, not the plugin).
func (h *Host) startFailed(ctx context.Context, p *plugin, err error) {
	if ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	p.failed, p.failedAt = err, time.Now()
	p.mu.Unlock()
}

// release puts a healthy process back among p's idle ones.
func (h *Host) release(p *plugin, pr *proc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		delete(p.live, pr)
		h.goKill(pr)
		return
	}
	pr.idleSince = time.Now()
	p.idle = append(p.idle, pr)
}

// releaseClean kills what pr started during the call it served (an
// attempt's children) and puts it back; a process whose children cannot
// be stopped is retired instead. It reports whether pr went back.
func (h *Host) releaseClean(p *plugin, pr *proc, marks ...string) bool {
	if err := pr.clean(marks...); err != nil {
		h.retire(p, pr)
		return false
	}
	h.release(p, pr)
	return true
}

// retire kills a process that must not serve again.
func (h *Host) retire(p *plugin, pr *proc) {
	p.mu.Lock()
	delete(p.live, pr)
	p.mu.Unlock()
	pr.kill()
}

// run runs one attempt of type typ on a process of p, with the
// environment variables vars (from the task's env: param) set in the
// process for the attempt. Their names go into the log, their values not.
func (h *Host) run(ctx context.Context, p *plugin, typ string, req tasks.Request, env tasks.Env, vars map[string]string) (tasks.Result, error) {
	if !h.enter() {
		return tasks.Result{}, fmt.Errorf("plugin %s: %w", p.Name, ErrClosed)
	}
	defer h.busy.Done()
	// The attempt also ends when the host closes.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(h.ctx, func() { cancel(ErrClosed) })()
	res, err := h.runOn(ctx, p, typ, req, env, vars)
	if err != nil && errors.Is(context.Cause(ctx), ErrClosed) {
		// The host ended the attempt: that is what failed it, whatever
		// the plugin said (a broken stream is the host's kill, not a
		// crash).
		var te *wire.TransportError
		if errors.As(err, &te) {
			err = fmt.Errorf("plugin %s: %w during the attempt, which was cancelled", p.Name, ErrClosed)
		} else {
			err = fmt.Errorf("plugin %s: %w during the attempt, which was cancelled (%v)", p.Name, ErrClosed, err)
		}
	}
	return res, err
}

// runOn runs the attempt on a process of p.
func (h *Host) runOn(ctx context.Context, p *plugin, typ string, req tasks.Request, env tasks.Env, vars map[string]string) (tasks.Result, error) {
	pr, err := h.acquire(ctx, p)
	if err != nil {
		return tasks.Result{}, err
	}
	pr.out.attach(env.Log)
	how := "warm process"
	if pr.cold {
		how = "new process"
		pr.cold = false
	}
	fmt.Fprintf(env.Log, "cairn: plugin %s version %s, sha256:%s, protocol %d, pid %d (%s)\n",
		p.Name, p.Version, p.SHA256, p.Protocol, pr.cmd.Process.Pid, how)
	if len(vars) > 0 {
		names := make([]string, 0, len(vars))
		for n := range vars {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(env.Log, "cairn: environment variables from env: %s (values not logged)\n", strings.Join(names, ", "))
	}
	// The attempt's marks, set in the plugin's environment for the
	// attempt like env:'s variables: the processes it starts inherit them,
	// so that the sweep (tasks/proctree) finds them, orphaned ones too.
	marks := attemptMarks(req.RunID, req.TaskID, req.Attempt)
	sent := make(map[string]string, len(vars)+len(marks))
	for k, v := range vars {
		sent[k] = v
	}
	for _, m := range marks {
		k, v, _ := strings.Cut(m, "=")
		sent[k] = v
	}
	res, err := pr.wc.Run(ctx, typ, req, env, sent, h.o.KillGrace)
	var notStarted *wire.NotStartedError
	if env.RanBy != nil && !errors.As(err, &notStarted) {
		// A process of p had the attempt: the provenance to record.
		env.RanBy(cairn.PluginRef{Name: p.Name, Version: p.Version, SHA256: p.SHA256, Protocol: p.Protocol})
	}
	var (
		te *wire.TaskError
		ns *wire.NotStartedError
		ue *wire.UnresponsiveError
		pa *cairn.PanicError
	)
	switch {
	case errors.As(err, &pa):
		// The SDK recovered a panic: the process may be in any state, so
		// the next attempt gets a fresh one.
		h.retire(p, pr)
		pr.out.attach(nil)
		err = pa
	case err == nil, errors.As(err, &te), errors.As(err, &ns):
		// The plugin is done with the attempt: the process may serve
		// another.
		if te != nil {
			err = te.Err
		}
		// Detached before it goes back: once released, another attempt
		// may take it and attach its own log. (Stderr still in the pipe
		// when the result came reaches no log, or the next attempt's:
		// best effort, as stderr has no mark of the attempt it belongs to.)
		pr.out.attach(nil)
		if !h.releaseClean(p, pr, marks...) && err == nil {
			err = fmt.Errorf("plugin %s: the processes the attempt started could not be stopped; the plugin process (pid %d) was killed", p.Name, pr.cmd.Process.Pid)
		}
		if h.afterRelease != nil {
			h.afterRelease()
		}
	case errors.As(err, &ue):
		// It ignores cancellation: kill it now, without go-plugin's
		// graceful shutdown, which would wait on the hung call.
		pr.cmd.Process.Kill()
		h.retire(p, pr)
		pr.out.attach(nil)
		err = fmt.Errorf("plugin %s: %w; its process (pid %d) was killed", p.Name, err, pr.cmd.Process.Pid)
	default:
		// A crash, garbage, or an attempt the host gave up on (its log
		// could not be written): the plugin may still be running it, so
		// the process never serves again. Killing it first lets its last
		// stderr reach the log. (A retired process serves nobody else,
		// so detaching it afterwards cannot touch another attempt.)
		h.retire(p, pr)
		pr.out.attach(nil)
		err = fmt.Errorf("plugin %s: %w", p.Name, err)
	}
	return res, err
}

// validate runs p's validator of typ on a process of p.
func (h *Host) validate(p *plugin, typ string, params map[string]any) []tasks.ParamError {
	if !h.enter() {
		return []tasks.ParamError{{Msg: fmt.Sprintf("plugin %s: %v", p.Name, ErrClosed), Hint: "the plugin could not be asked to check its params"}}
	}
	defer h.busy.Done()
	ctx, cancel := context.WithTimeout(h.ctx, h.o.StartTimeout)
	defer cancel()
	pr, err := h.acquire(ctx, p)
	if err != nil {
		return []tasks.ParamError{{Msg: err.Error(), Hint: "the plugin could not be asked to check its params"}}
	}
	perrs, err := pr.wc.ValidateParams(ctx, typ, params)
	if err != nil {
		h.retire(p, pr)
		return []tasks.ParamError{{Msg: fmt.Sprintf("plugin %s: %v", p.Name, err), Hint: "the plugin could not check its params"}}
	}
	h.releaseClean(p, pr)
	return perrs
}
