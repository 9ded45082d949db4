package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

// completeCommand is the hidden command the completion scripts call for
// the candidates that live in the database: run ids and task ids.
const completeCommand = "__complete"

// maxCompleteRuns bounds the run ids offered, newest first.
const maxCompleteRuns = 200

// argKinds says what each positional argument of a command is, for
// completion: yaml (a workflow file), dir, run, task, or words:W1 W2...; the
// last kind repeats when it ends in "...".
var argKinds = map[string][]string{
	"run": {"yaml"}, "validate": {"yaml..."}, "graph": {"yaml"},
	"show": {"run"}, "cancel": {"run"}, "resume": {"run"}, "retry": {"run", "task"}, "logs": {"run", "task"}, "artifact": {"run", "task"},
	"plugins": {"words:list lock"}, "tokens": {"words:create list revoke"}, "completion": {"words:bash zsh"}, "backup": {"dir"}, "restore": {"dir"},
}

// flagValueKinds says what the value of a flag is, for completion; a flag
// that takes a value and is not here gets no candidates.
var flagValueKinds = map[string]string{
	"home": "dir", "plugins-dir": "dir", "db": "file", "o": "file", "before": "run",
	"progress": "words:auto bar lines none", "format": "words:mermaid dot",
	"role": "words:viewer operator admin", "run": "run",
}

// commandFlagKinds are the commands whose flag of a shared name takes
// other values than flagValueKinds says: lineage's formats are not graph's,
// an alert's state is not a run's, and alerts' --before is an alert id.
var commandFlagKinds = map[string]map[string]string{
	"lineage": {"format": "words:text json dot openlineage"},
	"alerts":  {"state": "words:pending sent failed", "before": "none"},
	"audit":   {"before": "none"},
}

type compFlag struct{ name, usage, kind string } // kind "bool" for a flag without a value

type compCommand struct {
	name, summary string
	flags         []compFlag
	args          []string
}

// completionModel reads the command table and every command's real flag
// set: each command parses its flags before anything else, so running it
// with --help only registers them.
func completionModel(ctx context.Context) ([]compCommand, error) {
	var states []string
	for _, s := range cairn.RunStates {
		states = append(states, string(s))
	}
	kinds := map[string]string{"state": "words:" + strings.Join(states, " ")}
	for k, v := range flagValueKinds {
		kinds[k] = v
	}
	reg, err := registry()
	if err != nil {
		return nil, err
	}
	var out []compCommand
	for _, c := range commands() {
		if c.hidden {
			continue
		}
		probe := &app{stdout: io.Discard, stderr: io.Discard}
		if err := c.run(ctx, probe, []string{"--help"}); !errors.Is(err, flag.ErrHelp) || probe.help == nil {
			return nil, fmt.Errorf("command %s did not answer --help (%v)", c.name, err)
		}
		cc := compCommand{name: c.name, summary: c.summary, args: argKinds[c.name]}
		switch c.name {
		case "help":
			cc.args = []string{"words:" + strings.Join(commandNames(), " ")}
		case "types":
			cc.args = []string{"words:" + strings.Join(reg.Names(), " ")}
		}
		probe.help.fs.VisitAll(func(f *flag.Flag) {
			kind := "bool"
			if !isBoolFlag(f) {
				kind = kinds[f.Name]
				if k, ok := commandFlagKinds[c.name][f.Name]; ok {
					kind = k
				}
				if kind == "" {
					kind = "none"
				}
			}
			_, usage := flag.UnquoteUsage(f)
			cc.flags = append(cc.flags, compFlag{name: f.Name, usage: usage, kind: kind})
		})
		cc.flags = append(cc.flags, compFlag{name: "help", usage: "print this command's help", kind: "bool"})
		out = append(out, cc)
	}
	return out, nil
}

func cmdCompletion(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("completion", "bash|zsh", "Print a script that completes cairn's commands, flags, workflow files, run ids and task\n"+
		"ids in bash or zsh. Run ids and task ids come from the database of --home (or $CAIRN_HOME)\n"+
		"when you press Tab; a missing database gives no candidates and is never created.")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"want a shell: bash or zsh"}
	}
	model, err := completionModel(ctx)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "bash":
		_, err = io.WriteString(a.stdout, bashCompletion(model))
	case "zsh":
		_, err = io.WriteString(a.stdout, zshCompletion(model))
	default:
		return usageError{fmt.Sprintf("unknown shell %q: want bash or zsh", pos[0])}
	}
	return err
}

// cmdComplete prints candidates for the completion scripts, one a line:
// `runs` the run ids (newest first), `tasks RUN` the task ids of a run. It
// prints nothing, and creates nothing, when there is no database.
func cmdComplete(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags(completeCommand, "runs|tasks RUN", "Print completion candidates, one a line, for the completion scripts: 'runs' the run ids,\n"+
		"newest first; 'tasks RUN' the task ids of a run. Prints nothing when there is no database.\n"+
		"With --server (or CAIRN_SERVER), those of the server, asked with a short timeout.")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) == 0 || (pos[0] == "runs") != (len(pos) == 1) || (pos[0] == "tasks") != (len(pos) == 2) {
		return usageError{"want runs, or tasks RUN"}
	}
	if rf.remote() {
		return a.completeRemote(ctx, rf, pos)
	}
	t, err := a.database()
	if err != nil {
		return err
	}
	var st database
	if t.dsn != "" {
		a.readOnly = true // no table is created, nothing written
		t.timeout = completeConnectTimeout
		if st, err = a.openPostgres(ctx, t); err != nil {
			return err
		}
	} else {
		if fi, err := os.Stat(t.path); err != nil || !fi.Mode().IsRegular() {
			return nil // no database: no candidates, and none is created
		}
		if st, err = sqlite.Open(ctx, t.path, sqlite.ReadOnly(), sqlite.WithBusyTimeout(time.Second), sqlite.WithReadConns(1)); err != nil {
			return err
		}
	}
	defer st.Close()
	var ids []string
	if pos[0] == "runs" {
		runs, err := st.ListRuns(ctx, scheduler.RunFilter{Limit: maxCompleteRuns})
		if err != nil {
			return err
		}
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
	} else {
		id, err := resolveRun(ctx, st, pos[1])
		if err != nil {
			return err
		}
		trs, err := st.ListTaskRuns(ctx, id)
		if err != nil {
			return err
		}
		for _, tr := range trs {
			ids = append(ids, tr.TaskID)
		}
	}
	for _, id := range ids {
		if completable(id) {
			fmt.Fprintln(a.stdout, id)
		}
	}
	return nil
}

// completeTimeout bounds how long a Tab waits for a server.
const completeTimeout = 2 * time.Second

// completeRemote prints the run ids (pos "runs") or a run's task ids
// (pos "tasks RUN") of the server of rf; nothing when it does not answer.
func (a *app) completeRemote(ctx context.Context, rf *remoteFlags, pos []string) error {
	c, err := client.New(rf.server, client.Options{Token: rf.token, UserAgent: userAgent(), Timeout: completeTimeout, DialTimeout: completeTimeout})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	var ids []string
	if pos[0] == "runs" {
		page, err := c.Runs(ctx, client.RunsQuery{Limit: maxCompleteRuns})
		if err != nil {
			return err
		}
		for _, r := range page.Runs {
			ids = append(ids, r.ID)
		}
	} else {
		r, err := c.Run(ctx, pos[1])
		if err != nil {
			return err
		}
		for _, t := range r.Tasks {
			ids = append(ids, t.ID)
		}
	}
	for _, id := range ids {
		if completable(id) {
			fmt.Fprintln(a.stdout, id)
		}
	}
	return nil
}

// completable reports whether id may be offered to a shell: bash's
// compgen -W expands its word list, so a candidate from a database someone
// else wrote must hold no character a shell gives meaning to. Run ids and
// valid task ids always pass.
func completable(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// sq quotes s for a POSIX shell.
func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// shellFunctions are the parts bash and zsh share: what a flag's value is,
// a command's flags, and what its Nth argument is.
func shellFunctions(model []compCommand, zsh bool) string {
	var b strings.Builder
	b.WriteString("# _cairn_flag_kind CMD FLAG: bool, none, dir, file, run, or words:W...\n_cairn_flag_kind() {\n    local f=${2#-}\n    f=${f#-}\n    case \"$1:$f\" in\n")
	global := map[string]string{}
	for _, c := range model {
		for _, f := range c.flags {
			if globalFlagNames[f.name] {
				global[f.name] = f.kind
				continue
			}
			if f.kind != "bool" {
				fmt.Fprintf(&b, "    %s) echo %s ;;\n", sq(c.name+":"+f.name), sq(f.kind))
			}
		}
	}
	for _, name := range sortedKeys(global) {
		fmt.Fprintf(&b, "    *:%s) echo %s ;;\n", name, sq(global[name]))
	}
	b.WriteString("    *) echo bool ;;\n    esac\n}\n\n")

	// Flags: plain names for bash, name:description pairs for zsh.
	b.WriteString("# _cairn_flags CMD: the command's flags (the global ones without a command)\n_cairn_flags() {\n    case \"$1\" in\n")
	line := func(flags []compFlag) string {
		var parts []string
		for _, f := range flags {
			if zsh {
				parts = append(parts, sq(flagName(f.name)+":"+f.usage))
			} else {
				parts = append(parts, flagName(f.name))
			}
		}
		if zsh {
			return "reply=(" + strings.Join(parts, " ") + ")"
		}
		return "echo " + sq(strings.Join(parts, " "))
	}
	for _, c := range model {
		fmt.Fprintf(&b, "    %s) %s ;;\n", sq(c.name), line(c.flags))
	}
	var top []compFlag
	for _, name := range sortedKeys(global) {
		top = append(top, compFlag{name: name, usage: "global flag", kind: global[name]})
	}
	top = append(top, compFlag{name: "version", usage: "print the version and exit"}, compFlag{name: "help", usage: "print the usage"})
	fmt.Fprintf(&b, "    *) %s ;;\n    esac\n}\n\n", line(top))

	b.WriteString("# _cairn_arg_kind CMD N: what the command's Nth argument (from 0) is\n_cairn_arg_kind() {\n    case \"$1:$2\" in\n")
	for _, c := range model {
		for i, k := range c.args {
			pat := fmt.Sprintf("%s:%d", c.name, i)
			if strings.HasSuffix(k, "...") {
				pat, k = c.name+":*", strings.TrimSuffix(k, "...")
			}
			fmt.Fprintf(&b, "    %s) echo %s ;;\n", sq(pat), sq(k))
		}
	}
	b.WriteString("    *) echo none ;;\n    esac\n}\n\n")
	var names []string
	for _, c := range model {
		if zsh {
			names = append(names, sq(c.name+":"+c.summary))
		} else {
			names = append(names, c.name)
		}
	}
	if zsh {
		fmt.Fprintf(&b, "_cairn_commands=(%s)\n\n", strings.Join(names, " "))
	} else {
		fmt.Fprintf(&b, "_cairn_commands=%s\n\n", sq(strings.Join(names, " ")))
	}
	return b.String()
}

func bashCompletion(model []compCommand) string {
	return `# bash completion for cairn, generated by 'cairn completion bash'.
# Load it in this shell with:   source <(cairn completion bash)
# or for every shell, add that line to ~/.bashrc.

` + shellFunctions(model, false) + `# _cairn_fill KIND CUR: the candidates of one kind. Run and task ids come
# from the binary being completed (with the --home/--db/--server of the
# line; a server's token from CAIRN_TOKEN).
_cairn_fill() {
    local kind=$1 cur=$2
    case $kind in
    dir)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    file)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    yaml)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -d -- "$cur"; compgen -f -X '!*.yaml' -- "$cur"; compgen -f -X '!*.yml' -- "$cur") ;;
    run)
        mapfile -t COMPREPLY < <(compgen -W "$("$_cairn_bin" __complete "${_cairn_globals[@]}" runs 2>/dev/null)" -- "$cur") ;;
    task)
        mapfile -t COMPREPLY < <(compgen -W "$("$_cairn_bin" __complete "${_cairn_globals[@]}" tasks "$_cairn_run" 2>/dev/null)" -- "$cur") ;;
    words:*)
        mapfile -t COMPREPLY < <(compgen -W "${kind#words:}" -- "$cur") ;;
    *)
        COMPREPLY=() ;;
    esac
}

_cairn() {
    COMPREPLY=()
    # Rejoin what COMP_WORDBREAKS split at '=' (-p key=value, --home=DIR).
    local -a words=()
    local i j=-1 cword=0 w
    for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]}
        if ((j >= 0)) && [[ $w == "=" || ${COMP_WORDS[i-1]} == "=" ]]; then
            words[j]+=$w
        else
            words[++j]=$w
        fi
        ((i == COMP_CWORD)) && cword=$j
    done
    local cur=${COMP_WORDS[COMP_CWORD]} mcur=${words[cword]}
    [[ $cur == "=" ]] && cur=
    local _cairn_bin=${words[0]} _cairn_run= cmd= kind
    local -a _cairn_globals=() pos=()
    local dashdash=
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ -n $dashdash || $w != -* || $w == - ]]; then
            if [[ -z $cmd ]]; then cmd=$w; else pos+=("$w"); fi
            continue
        fi
        case $w in
        --) [[ -n $cmd ]] && dashdash=1 ;;
        -*=*)
            case ${w%%=*} in -home|--home|-db|--db|-plugins-dir|--plugins-dir|-server|--server) _cairn_globals+=("$w") ;; esac ;;
        *)
            kind=$(_cairn_flag_kind "$cmd" "$w")
            if [[ $kind != bool ]]; then
                case $w in -home|--home|-db|--db|-plugins-dir|--plugins-dir|-server|--server) _cairn_globals+=("$w" "${words[i+1]}") ;; esac
                ((i++))
            fi ;;
        esac
    done
    _cairn_run=${pos[0]}
    # The value of a flag: --flag VALUE or --flag=VALUE.
    if [[ -z $dashdash && $mcur == -*=* ]]; then
        _cairn_fill "$(_cairn_flag_kind "$cmd" "${mcur%%=*}")" "$cur"
        return 0
    fi
    w=${words[cword-1]}
    if ((cword > 1)) && [[ -z $dashdash && $w == -* && $w != *=* && $w != - && $w != -- ]]; then
        kind=$(_cairn_flag_kind "$cmd" "$w")
        if [[ $kind != bool ]]; then
            _cairn_fill "$kind" "$cur"
            return 0
        fi
    fi
    if [[ -z $dashdash && $cur == -* ]]; then
        _cairn_fill "words:$(_cairn_flags "$cmd")" "$cur"
    elif [[ -z $cmd ]]; then
        _cairn_fill "words:$_cairn_commands" "$cur"
    else
        _cairn_fill "$(_cairn_arg_kind "$cmd" "${#pos[@]}")" "$cur"
    fi
    return 0
}

complete -F _cairn cairn
`
}

func zshCompletion(model []compCommand) string {
	return `#compdef cairn
# zsh completion for cairn, generated by 'cairn completion zsh'.
# Load it in this shell with:   source <(cairn completion zsh)
# (after compinit), or install it: cairn completion zsh > "${fpath[1]}/_cairn"

` + shellFunctions(model, true) + `# _cairn_fill KIND: offer the candidates of one kind. Run and task ids come
# from the binary being completed (with the --home/--db/--server of the
# line; a server's token from CAIRN_TOKEN).
_cairn_fill() {
    local kind=$1
    local -a ids
    case $kind in
    dir) _directories ;;
    file) _files ;;
    yaml) _files -g '*.(yaml|yml)' ;;
    run)
        ids=(${(f)"$("$_cairn_bin" __complete "${_cairn_globals[@]}" runs 2>/dev/null)"})
        compadd -a ids ;;
    task)
        ids=(${(f)"$("$_cairn_bin" __complete "${_cairn_globals[@]}" tasks "$_cairn_run" 2>/dev/null)"})
        compadd -a ids ;;
    words:*)
        ids=(${=kind#words:})
        compadd -a ids ;;
    esac
}

_cairn() {
    local _cairn_bin=${words[1]} _cairn_run= cmd= kind w cur=${words[CURRENT]} dashdash=
    local -a _cairn_globals pos reply
    local i
    for ((i = 2; i < CURRENT; i++)); do
        w=${words[i]}
        if [[ -n $dashdash || $w != -* || $w == - ]]; then
            if [[ -z $cmd ]]; then cmd=$w; else pos+=("$w"); fi
            continue
        fi
        case $w in
        --) [[ -n $cmd ]] && dashdash=1 ;;
        -*=*)
            case ${w%%=*} in -home|--home|-db|--db|-plugins-dir|--plugins-dir|-server|--server) _cairn_globals+=("$w") ;; esac ;;
        *)
            kind=$(_cairn_flag_kind "$cmd" "$w")
            if [[ $kind != bool ]]; then
                case $w in -home|--home|-db|--db|-plugins-dir|--plugins-dir|-server|--server) _cairn_globals+=("$w" "${words[i+1]}") ;; esac
                ((i++))
            fi ;;
        esac
    done
    _cairn_run=${pos[1]}
    if [[ -z $dashdash && $cur == -*=* ]]; then
        compset -P '*='
        _cairn_fill "$(_cairn_flag_kind "$cmd" "${cur%%=*}")"
        return
    fi
    w=${words[CURRENT-1]}
    if ((CURRENT > 2)) && [[ -z $dashdash && $w == -* && $w != *=* && $w != - && $w != -- ]]; then
        kind=$(_cairn_flag_kind "$cmd" "$w")
        if [[ $kind != bool ]]; then
            _cairn_fill "$kind"
            return
        fi
    fi
    if [[ -z $dashdash && $cur == -* ]]; then
        _cairn_flags "$cmd"
        _describe -t flags 'flag' reply
    elif [[ -z $cmd ]]; then
        _describe -t commands 'cairn command' _cairn_commands
    else
        _cairn_fill "$(_cairn_arg_kind "$cmd" "${#pos[@]}")"
    fi
}

if [[ $funcstack[1] == _cairn ]]; then
    _cairn "$@"
else
    compdef _cairn cairn
fi
`
}
