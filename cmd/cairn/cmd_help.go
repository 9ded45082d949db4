package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/cairnml/cairn/tasks"
)

// helpInfo is what 'cairn NAME --help' prints: the command's usage line,
// what it does, its flags (the real flag set) and examples.
type helpInfo struct {
	name, args, text string
	fs               *flag.FlagSet
}

// globalFlagNames are accepted before the command and after it.
var globalFlagNames = map[string]bool{"home": true, "db": true, "plugins-dir": true}

// globalFlags registers the flags every command accepts on fs, bound to a.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.home, "home", a.home, "state folder: database, artifacts, logs (default $CAIRN_HOME, else ~/.cairn)")
	fs.StringVar(&a.dbFlag, "db", a.dbFlag, "the database: a SQLite file (a path or sqlite://PATH) or PostgreSQL (postgres://USER@HOST:PORT/DB); default $CAIRN_DB, else HOME/cairn.db")
	fs.StringVar(&a.pluginsDir, "plugins-dir", a.pluginsDir, "plugin binaries (default HOME/plugins), pinned in HOME/plugins.lock")
}

// newFlags returns the flag set of command name. It accepts the global
// flags too (`cairn runs --home X`); --help makes parseFlags return
// flag.ErrHelp, and run prints the help on standard output. Nothing is
// printed by the flag package itself: run prints a bad flag's one problem.
func (a *app) newFlags(name, args, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("cairn "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.globalFlags(fs)
	a.help = &helpInfo{name: name, args: args, text: help, fs: fs}
	return fs
}

// flagName spells a flag as the listings do: -x for one letter, --name
// otherwise (the flag package accepts either number of dashes).
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// placeholders name the value of the flags that take one, in listings.
var placeholders = map[string]string{
	"home": "DIR", "db": "DB", "plugins-dir": "DIR", "p": "KEY=VALUE", "workers": "N", "progress": "MODE", "log-limit": "SIZE", "cache-max": "SIZE", "predict-max-body": "SIZE", "stop-grace": "DURATION",
	"workflow": "NAME", "state": "STATE", "limit": "N", "before": "RUN", "attempt": "N", "o": "FILE", "format": "FORMAT",
	"role": "ROLE", "name": "NAME", "expires": "LIFETIME", "run": "RUN", "from": "SOURCE", "to": "DSN",
	"server": "URL", "token": "TOKEN", "stage": "STAGE",
	"labels": "K=V,...", "queues": "Q,...", "concurrency": "N", "ca": "FILE", "drain-timeout": "DURATION",
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// writeFlags lists flags with the --name spelling, a value placeholder and
// the default where it is not the zero value.
func writeFlags(w io.Writer, flags []*flag.Flag) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, f := range flags {
		left := flagName(f.Name)
		placeholder, usage := flag.UnquoteUsage(f)
		if !isBoolFlag(f) {
			if p, ok := placeholders[f.Name]; ok && !strings.Contains(f.Usage, "`") { // a `NAME` in the usage wins
				placeholder = p
			}
			left += " " + strings.ToUpper(placeholder)
		}
		if d := f.DefValue; d != "" && d != "0" && d != "false" && !globalFlagNames[f.Name] {
			usage += fmt.Sprintf(" (default %s)", d)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", left, usage)
	}
	tw.Flush()
}

// writeHelp prints the help of the command that ran last.
func (a *app) writeHelp(w io.Writer) {
	h := a.help
	if h == nil {
		usage(w)
		return
	}
	fmt.Fprintf(w, "usage: cairn %s\n\n%s\n", strings.TrimSpace(h.name+" "+h.args), strings.TrimSpace(h.text))
	var own, global []*flag.Flag
	h.fs.VisitAll(func(f *flag.Flag) {
		if globalFlagNames[f.Name] {
			global = append(global, f)
		} else {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		writeFlags(w, own)
	}
	if c, ok := findCommand(h.name); ok && len(c.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	fmt.Fprintln(w, "\nGlobal flags (before or after the command):")
	writeFlags(w, global)
}

// usage is the top-level help: every command and the global flags.
func usage(w io.Writer) {
	fmt.Fprint(w, `cairn — an ML workflow orchestrator

Usage:
  cairn [--home DIR] [--db FILE] [--plugins-dir DIR] COMMAND [ARGS] [flags]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		if !c.hidden {
			fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nGlobal flags (before or after the command):")
	fs := flag.NewFlagSet("cairn", flag.ContinueOnError)
	(&app{}).globalFlags(fs)
	fs.Bool("version", false, "print the version and exit")
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	writeFlags(w, flags)
	fmt.Fprint(w, `
Run 'cairn help COMMAND' (or 'cairn COMMAND --help') for a command's flags and examples.
Exit status: 0 success, 1 a run or operation failed, 2 a bad workflow file or bad usage,
130 or 143 ended by Ctrl-C (SIGINT) or SIGTERM.
'make build' installs two builds: cairn, lean, hands 'server', 'plugins' and plugins' task types
to cairn-full beside it ('cairn version' says which answers).
`)
}

func cmdHelp(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("help", "[COMMAND]", "Print the usage of cairn, or the help of one command: what it does, its flags and examples.\n"+
		"'cairn help COMMAND' prints what 'cairn COMMAND --help' prints.")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch len(pos) {
	case 0:
		usage(a.stdout)
		return nil
	case 1:
	default:
		return usageError{"want at most one command"}
	}
	c, ok := findCommand(pos[0])
	if !ok {
		return usageError{fmt.Sprintf("unknown command %q%s", pos[0], suggest(pos[0], commandNames()))}
	}
	// Every command parses its flags before it does anything, so --help
	// returns at once with a.help set to its help.
	err = c.run(ctx, a, []string{"--help"})
	if !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("command %s did not answer --help (%v)", c.name, err)
	}
	return err
}

// The messages of the flag package, whose flag names are respelled.
var (
	undefinedFlag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^flag provided but not defined: -+(.*)$`) })
	flagInMessage = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(flag needs an argument: |invalid value ".*" for flag |invalid boolean value ".*" for )-([A-Za-z0-9_-]+)`)
	})
)

// flagProblem is the one line that says what is wrong with a flag, with
// the flag spelled as the listings spell it and the nearest flag for a typo.
func flagProblem(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := undefinedFlag().FindStringSubmatch(msg); m != nil {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		hint := ""
		if n := tasks.Nearest(m[1], names); n != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", flagName(n))
		}
		if _, err := strconv.ParseFloat(m[1], 64); err == nil {
			// A value such as -1 given where an argument goes.
			hint = " (a negative number is read as a flag: put -- before it)"
		}
		return fmt.Sprintf("unknown flag %s%s", flagName(m[1]), hint)
	}
	if m := flagInMessage().FindStringSubmatchIndex(msg); m != nil {
		name := msg[m[4]:m[5]]
		return msg[:m[4]-1] + flagName(name) + msg[m[5]:]
	}
	return msg
}
