// Command testplugin is the plugin the host's tests build and start: it
// serves the built-in noop type (for the conformance tests), "misbehave"
// (which crashes, hangs, writes garbage and so on, as its mode param
// says), "getenv" (which reports environment variables) and
// "<name>-echo", named after its own file so that two copies under
// different names claim some types in common and some not. Named
// clash*, it also serves "<name>-env", which declares a param env; named
// slow*, it takes 2 s to start.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/plugins/internal/wire"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
)

// version is the plugin's version; tests build a variant with another
// (-ldflags -X main.version=...), a binary of other bytes that works.
var version = "1.2.3"

func main() {
	name := strings.ToLower(filepath.Base(os.Args[0]))
	ts := []tasks.Task{noop.New(), misbehave{}, getenv{}, echo{name: name + "-echo"}}
	if strings.HasPrefix(name, "clash") {
		ts = append(ts, envParam{name: name + "-env"})
	}
	// Text that would drive a terminal: in the version, or in a type's
	// summary or param doc.
	if strings.HasPrefix(name, "badversion") {
		version += "\x1b[5mblink"
	}
	if strings.HasPrefix(name, "badtext") {
		ts = append(ts, echo{name: name + "-summary", summary: "red \x1b[31mRED\x1b[0m \x1b]0;TITLE\x07"},
			echo{name: name + "-doc", doc: "clear\x1b[2J"}, echo{name: name + "-bidi", doc: "\u202eevil"})
	}
	if strings.HasPrefix(name, "slow") {
		time.Sleep(2 * time.Second) // a slow start, before the handshake
	}
	wire.Serve(version, protocol, ts)
}

// getenv reports the values of the variables its names param lists (null
// for one that is not set). Its params are decoded strictly, so an env:
// that reached them would fail the attempt.
type getenv struct{}

func (getenv) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "getenv",
		Summary: "Reports environment variables, for the host's tests.",
		Params:  []cairn.ParamInfo{{Name: "names", Kind: cairn.KindList, Required: true, Doc: "the variables to report"}},
		Outputs: []cairn.PortInfo{{Name: "values", Doc: "name → value, null when unset"}},
	}
}

func (getenv) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	var p struct{ Names []string }
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	values := map[string]*string{}
	for _, n := range p.Names {
		if v, ok := os.LookupEnv(n); ok {
			values[n] = &v
		} else {
			values[n] = nil
		}
	}
	b, err := json.Marshal(values)
	if err != nil {
		return tasks.Result{}, err
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"values": b}}, nil
}

// envParam declares a param named env, which the host reserves.
type envParam struct{ name string }

func (e envParam) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: e.name, Summary: "Declares a param env.",
		Params: []cairn.ParamInfo{{Name: "env", Kind: cairn.KindString}}}
}

func (envParam) Run(context.Context, tasks.Request, tasks.Env) (tasks.Result, error) {
	return tasks.Result{}, nil
}

type misbehave struct{}

func (misbehave) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "misbehave",
		Summary: "Misbehaves as told, for the host's tests.",
		Params: []cairn.ParamInfo{{Name: "mode", Kind: cairn.KindString, Required: true,
			Doc: "crash, crash-goroutine, sleep, hang, garbage, env, pid, spawn, stderr, big, huge, undeclared, outputs, metrics"}},
		Outputs: []cairn.PortInfo{{Name: "value"}},
	}
}

func (misbehave) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	var p struct{ Mode string }
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	fd2 := os.NewFile(2, "stderr") // the process's own stderr, not go-plugin's forwarded one
	var value any
	switch p.Mode {
	case "crash":
		fmt.Fprintln(fd2, "testplugin: about to crash")
		os.Exit(3)
	case "crash-goroutine":
		done := make(chan struct{})
		go func() { panic("testplugin: boom in a goroutine") }()
		<-done
	case "sleep":
		fmt.Fprintln(env.Log, "sleeping until cancelled")
		<-ctx.Done()
		return tasks.Result{}, fmt.Errorf("sleep: %w", context.Cause(ctx))
	case "hang":
		fmt.Fprintln(env.Log, "hanging, deaf to cancellation")
		select {}
	case "garbage":
		return tasks.Result{Outputs: map[string]json.RawMessage{"value": json.RawMessage("{not json")}}, nil
	case "big", "huge": // a value over 1 MiB; a message over 64 MiB
		n := tasks.MaxValueBytes
		if p.Mode == "huge" {
			n = 65 << 20
		}
		return tasks.Result{Outputs: map[string]json.RawMessage{"value": json.RawMessage(`"` + strings.Repeat("A", n-1) + `"`)}}, nil
	case "undeclared":
		return tasks.Result{Outputs: map[string]json.RawMessage{"value": json.RawMessage("1"), "../../etc": json.RawMessage("2")}}, nil
	case "outputs", "metrics":
		res := tasks.Result{Outputs: map[string]json.RawMessage{}, Metrics: map[string]float64{}}
		for i := range 1001 {
			if p.Mode == "outputs" {
				res.Outputs[fmt.Sprint("o", i)] = json.RawMessage("1")
			} else {
				res.Metrics[fmt.Sprint("m", i)] = 1
			}
		}
		return res, nil
	case "env":
		var names []string
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			names = append(names, k)
		}
		sort.Strings(names)
		value = names
	case "pid":
		value = os.Getpid()
	case "spawn":
		// A child in a session of its own, and an orphan re-parented
		// away from this process: neither may outlive the attempt.
		child := exec.Command("/bin/sleep", "300")
		child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := child.Start(); err != nil {
			return tasks.Result{}, err
		}
		go child.Wait()
		out, err := exec.Command("/bin/sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!").Output()
		if err != nil {
			return tasks.Result{}, err
		}
		orphan, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		value = []int{os.Getpid(), child.Process.Pid, orphan}
	case "stderr":
		fmt.Fprintln(fd2, "testplugin: a line on stderr")
		// go-plugin forwards os.Stderr over gRPC; fd 2 is a pipe.
		fmt.Fprintln(os.Stderr, "testplugin: a line on os.Stderr")
		time.Sleep(50 * time.Millisecond) // let the host copy both
		value = "ok"
	default:
		return tasks.Result{}, cairn.Permanentf("mode %q: want one of the Doc's", p.Mode)
	}
	b, err := json.Marshal(value)
	if err != nil {
		return tasks.Result{}, err
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"value": b}}, nil
}

type echo struct{ name, summary, doc string }

func (e echo) Info() cairn.TypeInfo {
	summary, doc := "Echoes its text param as its output.", "what to echo"
	if e.summary != "" {
		summary = e.summary
	}
	if e.doc != "" {
		doc = e.doc
	}
	return cairn.TypeInfo{
		Name:    e.name,
		Summary: summary,
		Params:  []cairn.ParamInfo{{Name: "text", Kind: cairn.KindString, Doc: doc}},
		Outputs: []cairn.PortInfo{{Name: "text"}},
	}
}

func (e echo) ValidateParams(params map[string]any) []tasks.ParamError {
	var errs []tasks.ParamError
	for k := range params {
		if k != "text" {
			errs = append(errs, tasks.ParamError{Key: k, Msg: "unknown param"})
		}
	}
	if s, ok := params["text"].(string); ok && s == "" {
		errs = append(errs, tasks.ParamError{Key: "text", Msg: "must not be empty"})
	}
	return errs
}

func (e echo) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	var p struct{ Text string }
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	if p.Text == "" {
		return tasks.Result{}, cairn.Permanentf("text: must not be empty")
	}
	b, _ := json.Marshal(p.Text)
	return tasks.Result{Outputs: map[string]json.RawMessage{"text": b}}, nil
}
