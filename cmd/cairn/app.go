package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/secrets"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/store/sqlsource"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/clean"
	"github.com/cairnml/cairn/tasks/collect"
	"github.com/cairnml/cairn/tasks/deploy"
	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/predict"
	"github.com/cairnml/cairn/tasks/retrain"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/split"
	"github.com/cairnml/cairn/tasks/train"
	"github.com/cairnml/cairn/tasks/tune"
	"github.com/cairnml/cairn/workflows"
	"golang.org/x/sys/unix"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the run did not succeed, or an operation failed
	exitBadFile = 2 // bad workflow file or bad usage
)

// usageError is bad command-line usage: exit 2 with the one problem and a
// pointer to the command's --help.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func (e exitError) Unwrap() error { return e.err }

// app is the state shared by every command: where things live and the
// output streams.
type app struct {
	stdout, stderr io.Writer
	home           string       // $CAIRN_HOME
	dbFlag         string       // --db as given ("": CAIRN_DB, else HOME/cairn.db; see database)
	pluginsDir     string       // --plugins-dir; "" means HOME/plugins
	plugins        *pluginHost  // opened by taskTypes, closed when the command ends (full.go; none in lean.go)
	help           *helpInfo    // the running command's help, set by newFlags
	readOnly       bool         // the command only reads state (readOnlyCommands)
	secrets        *secrets.Set // the run's secret param values, in memory only (run, resume)
	owner          string       // the name this process claims runs under (run)
	serving        bool         // a long-lived process (server): its store checkpoints at close
	dbConns        int          // the PostgreSQL pool's size (0: pgx's default); a pool_max_conns in the URL wins
	// countStatements: the PostgreSQL store counts its statements by
	// kind (CAIRN_DEBUG_ADDR).
	countStatements bool
	warnedHome      bool
	// firstEvents are the changes of a new run's first plan, made before
	// it was created (scheduler.PlanCreated), for the progress lines.
	firstEvents []scheduler.Event
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, a *app, args []string) error
	examples            []string // shown by 'cairn help NAME'
	hidden              bool     // left out of the usage (the completion scripts' helper)
}

func commands() []command {
	return []command{
		{name: "run", args: "FILE [-p key=value]... [flags]", summary: "run a workflow in the foreground, with live progress", run: cmdRun,
			examples: []string{"cairn run workflows/examples/breast-cancer.yaml", "cairn run wf.yaml -p seed=7 -p data=/srv/data.csv --progress lines", "cairn run wf.yaml --quiet --workers 4",
				"id=$(cairn run --detach wf.yaml -p seed=7)   # queued for cairn server", "cairn run --server https://cairn.example.com wf.yaml   # run there, followed here"}},
		{name: "trigger", args: "NAME [-p key=value]... [--follow] [--server URL]", summary: "start a run of one of a cairn server's workflows and print its id", run: cmdTrigger,
			examples: []string{"cairn trigger breast-cancer --server https://cairn.example.com   # token in CAIRN_TOKEN", "cairn trigger nightly -p seed=7 --follow --progress lines"}},
		{name: "server", args: "[--addr 127.0.0.1:8080] [--workflows DIR] [--workers N] [--max-active-runs N]", summary: "run the scheduler as a service with the web UI and API: start queued runs, take over orphaned ones", run: cmdServer,
			examples: []string{"cairn server", "cairn server --workflows ./workflows --workers 16 --max-active-runs 50", "CAIRN_PARAM_TOKEN=s3cret cairn server --log-format json"}},
		{name: "worker", args: "--server URL [--labels k=v,...] [--queues q,...] [--concurrency N]", summary: "run a cairn server's tasks on this machine: lease, run, stream logs, send outputs back", run: cmdWorker,
			examples: []string{"CAIRN_WORKER_TOKEN=cairn_... cairn worker --server https://cairn.example.com:8080",
				"cairn worker --server https://cairn.example.com:8080 --labels gpu=true,zone=eu --queues train --concurrency 2 --ca /etc/cairn/ca.pem"}},
		{name: "schedules", args: "list|pause|resume [NAME] [--json]", summary: "list the schedules a cairn server fires, with their next slots; pause or resume one", run: cmdSchedules,
			examples: []string{"cairn schedules list", "cairn schedules pause nightly", "cairn schedules resume nightly --server https://cairn.example.com"}},
		{name: "backfill", args: "FILE|NAME --from T --to T", summary: "queue the runs of a schedule's past slots, each knowing its slot", run: cmdBackfill,
			examples: []string{"cairn backfill nightly.yaml --from 2026-01-01 --to 2026-01-31", "cairn backfill nightly --from 2026-01-01T00:00:00Z --to 2026-01-07T23:59:59Z --server https://cairn.example.com"}},
		{name: "validate", args: "FILE...", summary: "check workflow files and print every problem", run: cmdValidate,
			examples: []string{"cairn validate wf.yaml", "cairn validate workflows/examples/*.yaml"}},
		{name: "graph", args: "FILE [--format mermaid|dot]", summary: "print a workflow's DAG as Mermaid or Graphviz DOT", run: cmdGraph,
			examples: []string{"cairn graph wf.yaml", "cairn graph wf.yaml --format dot | dot -Tsvg > wf.svg"}},
		{name: "runs", args: "[--workflow W] [--state S] [--metric TASK.METRIC]... [--sort desc|asc] [--limit N] [--before RUN | --offset N] [--json | -q]", summary: "list runs, newest first, or ranked by a metric", run: cmdRuns,
			examples: []string{"cairn runs", "cairn runs --state failed --limit 5", "cairn runs -q --limit 1", "CAIRN_TOKEN=... cairn runs --server https://cairn.example.com",
				"cairn runs --workflow breast-cancer --metric evaluate.f1 --metric evaluate.accuracy", "cairn runs --workflow breast-cancer --metric evaluate.f1 --sort desc --limit 5"}},
		{name: "compare", args: "RUN RUN... [--json]", summary: "compare runs: params that differ, metrics side by side, outputs whose bytes differ", run: cmdCompare,
			examples: []string{"cairn compare 01m8x1dm 01m8x2kq", "cairn compare $(cairn runs -q --workflow breast-cancer --limit 3)", "cairn compare 01m8x1dm 01m8x2kq --json",
				"cairn compare 01m8x1dm 01m8x2kq --server https://cairn.example.com"}},
		{name: "show", args: "RUN [TASK] [--json]", summary: "show a run and every task: state, attempts, duration, error, outputs, metrics; with TASK, whether it came from the cache and why (not)", run: cmdShow,
			examples: []string{"cairn show 01m8x1dm", "cairn show $(cairn runs -q --limit 1) --json", "cairn show 01m8x1dm --server https://cairn.example.com"}},
		{name: "logs", args: "RUN TASK [--attempt N] [-f]", summary: "print a task attempt's log (the latest by default); -f follows it", run: cmdLogs,
			examples: []string{"cairn logs 01m8x1dm train", "cairn logs 01m8x1dm train --attempt 1", "cairn logs 01m8x1dm train -f", "cairn logs 01m8x1dm train -f --server https://cairn.example.com"}},
		{name: "artifact", args: "RUN TASK [OUTPUT] [-o FILE]", summary: "write a task's artifact output (data, model, report, plot) to stdout or a file", run: cmdArtifact,
			examples: []string{"cairn artifact 01m8x1dm evaluate", "cairn artifact 01m8x1dm train model -o model.json"}},
		{name: "lineage", args: "ARTIFACT|model:NAME[@VERSION]|RUN/TASK [--downstream] [--format text|json|dot|openlineage]", summary: "print where an artifact or model came from (or, --downstream, what was made from it)", run: cmdLineage,
			examples: []string{"cairn lineage model:breast-cancer@1", "cairn lineage 01m8x1dm/train", "cairn lineage sha256:3f2a9c0d --downstream",
				"cairn lineage model:breast-cancer --format dot | dot -Tsvg > lineage.svg", "cairn lineage model:breast-cancer --format openlineage > events.jsonl"}},
		{name: "models", args: "list|show|promote|rollback|rollout|alerts [flags]", summary: "the model registry: list models, show their versions, promote a version, roll back, rollouts, a model's alerts", run: cmdModels,
			examples: []string{"cairn models list", "cairn models show breast-cancer", "cairn models show breast-cancer@2 --json",
				"cairn models promote breast-cancer 3", "cairn models promote breast-cancer 1 --stage archived", "cairn models rollback breast-cancer",
				"cairn models list --server https://cairn.example.com   # token in CAIRN_TOKEN"}},
		{name: "alerts", args: "list [--run RUN] [--state pending|sent|failed] [--json]", summary: "list the alerts of workflows' notify:: sent, failed, waiting, with attempts and the last error", run: cmdAlerts,
			examples: []string{"cairn alerts list", "cairn alerts list --state failed", "cairn alerts list --run 01m8x1dm --json", "cairn alerts list --server https://cairn.example.com"}},
		{name: "cancel", args: "RUN", summary: "cancel a run (its running tasks are stopped)", run: cmdCancel,
			examples: []string{"cairn cancel 01m8x1dm", "cairn cancel 01m8x1dm --server https://cairn.example.com"}},
		{name: "resume", args: "RUN [flags]", summary: "finish a run whose process died; succeeded tasks are not run again", run: cmdResume,
			examples: []string{"cairn resume 01m8x1dm", "cairn resume 01m8x1dm --progress lines"}},
		{name: "workers", args: "[--since D] [--json]", summary: "list the workers: labels, queues, state, running tasks, last heartbeat", run: cmdWorkers,
			examples: []string{"cairn workers", "cairn workers --since 24h --json", "cairn workers --server https://cairn.example.com"}},
		{name: "pools", args: "[--json]", summary: "list the pools: size, who declared it, slots in use and the tasks holding them", run: cmdPools,
			examples: []string{"cairn pools", "cairn pools --json"}},
		{name: "tokens", args: "create|list|revoke [flags]", summary: "make, list and revoke the API tokens of cairn server (viewer, operator, admin; worker)", run: cmdTokens,
			examples: []string{"cairn tokens create --role admin --name alice", "cairn tokens create --role operator --name ci --expires 30d",
				"cairn tokens create --role worker --name gpu-box-1",
				"cairn tokens list", "cairn tokens list --json", "cairn tokens revoke 3f2a9c0d1e7b4a65"}},
		{name: "audit", args: "[--run RUN] [--limit N] [--before ID] [--json]", summary: "print the audit log: who triggered, cancelled, retried, resumed; token and model changes", run: cmdAudit,
			examples: []string{"cairn audit", "cairn audit --run 01m8x1dm", "cairn audit --limit 100 --json"}},
		{name: "retry", args: "RUN [TASK] [flags]", summary: "run a finished run's failed tasks again, into the same run, with new attempts", run: cmdRetry,
			examples: []string{"cairn retry 01m8x1dm", "cairn retry 01m8x1dm train", "cairn retry 01m8x1dm --detach   # cairn server runs it",
				"cairn retry 01m8x1dm --server https://cairn.example.com   # that server retries it, followed here"}},
		{name: "reproduce", args: "RUN [flags]", summary: "run a finished run again from its record and check every output is the same bytes", run: cmdReproduce,
			examples: []string{"cairn reproduce 01m8x1dm", "cairn reproduce 01m8x1dm --reread   # read outside sources again", "cairn reproduce 01m8x1dm --pin fetch"}},
		{name: "gc", args: "[--dry-run] [--keep-last N] [--keep-within D]", summary: "remove the artifacts no run, model version or retention rule needs", run: cmdGC,
			examples: []string{"cairn gc --dry-run", "cairn gc", "cairn gc --keep-last 3 --keep-within 2w"}},
		{name: "backup", args: "DIR", summary: "copy the home (database snapshot, artifacts, logs) into DIR while runs go on", run: cmdBackup,
			examples: []string{"cairn backup /srv/backups/cairn-$(date +%F)"}},
		{name: "restore", args: "DIR [--force]", summary: "put a backup in place as the home; refuses a home in use", run: cmdRestore,
			examples: []string{"cairn --home ~/.cairn-restored restore /srv/backups/cairn-2030-01-01"}},
		{name: "migrate", args: "[--from sqlite://PATH|HOME] [--to postgres://DSN]", summary: "upgrade the database schema in place, or copy a SQLite home's history into PostgreSQL (verified)", run: cmdMigrate,
			examples: []string{"cairn migrate", "cairn migrate --db /srv/cairn/cairn.db",
				"cairn migrate --from sqlite:///srv/cairn/cairn.db --to 'postgres://cairn@db.example.com:5432/cairn?sslmode=verify-full'",
				"PGPASSWORD=... cairn migrate --home /srv/cairn --to postgres://cairn@db.example.com/cairn --progress lines"}},
		{name: "types", args: "[TYPE]", summary: "list the task types this binary knows, or show one with every param's default", run: cmdTypes,
			examples: []string{"cairn types", "cairn types train"}},
		{name: "plugins", args: "list|lock [--json]", summary: "list the plugins and their task types; pin their sha256 in the lock file", run: cmdPlugins,
			examples: []string{"cairn plugins list", "cairn plugins list --json", "cairn plugins lock"}},
		{name: "help", args: "[COMMAND]", summary: "print the usage, or a command's help", run: cmdHelp,
			examples: []string{"cairn help", "cairn help run"}},
		{name: "version", args: "", summary: "print the version, the commit and the Go version of this binary", run: cmdVersion,
			examples: []string{"cairn version", "cairn --version"}},
		{name: "completion", args: "bash|zsh", summary: "print a shell completion script", run: cmdCompletion,
			examples: []string{"source <(cairn completion bash)        # in ~/.bashrc", "cairn completion zsh > \"${fpath[1]}/_cairn\"   # then restart zsh"}},
		{name: completeCommand, args: "runs|tasks RUN", summary: "print completion candidates (used by the completion scripts)", run: cmdComplete, hidden: true,
			examples: []string{"cairn __complete runs"}},
	}
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run is main without the process: it parses global flags, dispatches to a
// command and maps its error to an exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, home: os.Getenv("CAIRN_HOME")}
	// Only a process started by a hand-off reads its build info for this.
	if err := checkHandOff(implVersion); err != nil {
		fmt.Fprintf(stderr, "cairn: %s\n", err)
		return exitFailed
	}
	fs := flag.NewFlagSet("cairn", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed below, once
	fs.Usage = func() {}
	a.globalFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "cairn: %s\nRun 'cairn --help' for usage.\n", flagProblem(fs, err))
		return exitBadFile
	}
	if *showVersion {
		writeVersion(stdout)
		return exitOK
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return exitBadFile
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	c, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "cairn: unknown command %q%s\nRun 'cairn help' for the list of commands.\n", name, suggest(name, commandNames()))
		return exitBadFile
	}
	a.readOnly = readOnlyCommands[c.name]
	err := c.run(ctx, a, rest)
	a.closePlugins()
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		a.writeHelp(stdout)
		return exitOK
	case errors.As(err, &ue):
		// The command that failed: 'cairn help bogus' names help.
		cmd := c.name
		if a.help != nil {
			cmd = a.help.name
		}
		fmt.Fprintf(stderr, "cairn %s: %s\nRun 'cairn %s --help' for usage.\n", cmd, printableLines(ue.msg), cmd)
		return exitBadFile
	case errors.As(err, &ee):
		if ee.err.Error() != "" {
			fmt.Fprintf(stderr, "cairn %s: %s\n", c.name, printableLines(ee.err.Error()))
		}
		return ee.code
	default:
		fmt.Fprintf(stderr, "cairn %s: %s\n", c.name, printableLines(err.Error()))
		return exitFailed
	}
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		if !c.hidden {
			names = append(names, c.name)
		}
	}
	return names
}

// suggest returns ` (did you mean "x"?)` for the nearest of names, if close.
func suggest(s string, names []string) string {
	if n := tasks.Nearest(s, names); n != "" {
		return fmt.Sprintf(" (did you mean %q?)", n)
	}
	return ""
}

// parseFlags parses args allowing flags after positional arguments
// (`cairn show RUN --json`), which the flag package alone does not. A bad
// flag is a usageError naming the one problem.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{flagProblem(fs, err)}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (a *app) homeDir() (string, error) {
	if a.home != "" {
		return a.home, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home folder (set CAIRN_HOME or --home): %w", err)
	}
	return filepath.Join(h, ".cairn"), nil
}

// openStore opens (creating and migrating) the database; for a read-only
// command, it opens an existing one read-only.
func (a *app) openStore(ctx context.Context) (database, error) {
	t, err := a.database()
	if err != nil {
		return nil, err
	}
	if t.dsn != "" {
		return a.openPostgres(ctx, t)
	}
	return a.openSQLite(ctx, t)
}

// openSQLite opens the SQLite database of t.
func (a *app) openSQLite(ctx context.Context, t dbTarget) (database, error) {
	path := t.path
	if a.readOnly {
		st, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
		if errors.Is(err, fs.ErrNotExist) {
			if t.given {
				return nil, fmt.Errorf("%w at %s, which --db (or CAIRN_DB) names: check the path", errNoDatabase, path)
			}
			return nil, fmt.Errorf("%w at %s: nothing has run with this home yet (or give --home, CAIRN_HOME or --db)", errNoDatabase, path)
		}
		if err != nil {
			return nil, err // sqlite.Open's errors name the file
		}
		return st, nil
	}
	awaitSignals()
	if err := readOnlyDatabase(path); err != nil {
		return nil, err
	}
	home := filepath.Dir(path)
	if !t.given {
		if _, err := os.Stat(home); errors.Is(err, fs.ErrNotExist) {
			if err := a.privateHome(); err != nil { // create it 0700
				return nil, err
			}
		}
	}
	// Open refuses an empty or foreign database before anything in the
	// home is changed: only then is an existing home made private.
	var opts []sqlite.Option
	if !a.serving {
		// A command exits right after: the next one reads the log back,
		// rather than this one copying it into the database (fsyncs).
		opts = append(opts, sqlite.LeaveWALOnClose())
	}
	st, err := sqlite.Open(ctx, path, opts...)
	if err != nil {
		return nil, err // sqlite.Open's errors name the file
	}
	if !t.given {
		if err := a.privateHome(); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// readOnlyDatabase says so when the database at path exists but this
// process may not write to it (its mode, its owner, a read-only file
// system): SQLite would open it and fail at the first write with "attempt
// to write a readonly database". access(2) answers for this process's
// real ids, the ones a setuid-less cairn runs with.
func readOnlyDatabase(path string) error {
	if _, err := os.Stat(path); err != nil {
		return nil // missing (Open creates it) or unreadable (Open says why)
	}
	dir := filepath.Dir(path)
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("the database %s is read-only: its folder is not writable (SQLite keeps the -wal and -shm files beside it): %w; "+
			"'cairn runs', 'show', 'logs' and 'artifact' still read it, but to run, make the folder writable for you (chmod u+w), or use another home (--home, CAIRN_HOME or --db)",
			path, err)
	}
	if err := unix.Access(path, unix.W_OK); err != nil {
		return fmt.Errorf("the database %s is read-only: %w; 'cairn runs', 'show', 'logs' and 'artifact' still read it, "+
			"but to run, make it writable for you (or run as its owner), or use another home (--home, CAIRN_HOME or --db)",
			path, err)
	}
	return nil
}

// stores opens the artifact store and the log folder (read-only for a
// read-only command).
func (a *app) stores() (*artifacts.Dir, *artifacts.Logs, error) {
	home, err := a.homeDir()
	if err != nil {
		return nil, nil, err
	}
	if a.readOnly {
		arts, err := artifacts.OpenReadOnly(filepath.Join(home, "artifacts"))
		if err != nil {
			return nil, nil, err
		}
		logs, err := artifacts.OpenLogsReadOnly(filepath.Join(home, "logs"))
		return arts, logs, err
	}
	if err := a.privateHome(); err != nil {
		return nil, nil, err
	}
	arts, err := artifacts.Open(filepath.Join(home, "artifacts"))
	if err != nil {
		return nil, nil, fmt.Errorf("open artifact store: %w", err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(home, "logs"))
	if err != nil {
		return nil, nil, fmt.Errorf("open log folder: %w", err)
	}
	return arts, logs, nil
}

// registry is the set of task types this binary runs: built in explicitly
// here, never by init-time registration.
func registry() (*tasks.Registry, error) {
	return tasks.NewRegistry(shell.New(), noop.New(), clean.New(), split.New(),
		collect.New(collect.Options{SQL: sqlsource.New()}), tune.New(), train.New(), evaluate.New(), predict.New(),
		retrain.New(), deploy.New())
}

// pluginPaths says where the plugins folder and its lock file are.
func (a *app) pluginPaths() (dir, lockFile string, err error) {
	home, err := a.homeDir()
	if err != nil {
		return "", "", err
	}
	dir = a.pluginsDir
	if dir == "" {
		dir = filepath.Join(home, "plugins")
	}
	return dir, filepath.Join(home, "plugins.lock"), nil
}

// parseWith parses a workflow with the built-in task types and, only if
// that fails, opens the plugins (starting their processes, and printing
// their problems; in the lean build, handing the command to cairn-full)
// and parses again with their types too. It returns the workflow and the
// registry it was parsed with. A workflow of built-in types never waits
// for the plugins: a plugin type never replaces a built-in one, so
// parsing it with theirs would give the same workflow. Nor does a file
// whose problems are all of other kinds (a YAML syntax error, a typo in
// a key): more types would not change them.
func (a *app) parseWith(ctx context.Context, parse func(*tasks.Registry) (*workflows.Workflow, error)) (*workflows.Workflow, *tasks.Registry, error) {
	reg, err := registry()
	if err != nil {
		return nil, nil, err
	}
	wf, err := parse(reg)
	if err == nil {
		return wf, reg, nil
	}
	var list workflows.ErrorList
	if errors.As(err, &list) && !errors.Is(err, workflows.ErrUnknownType) {
		return nil, nil, err
	}
	builtin := err
	if reg, err = a.taskTypes(ctx); err != nil {
		// The built-in types' problems as text: an exitError among them
		// would give its exit status to this failure.
		return nil, nil, fmt.Errorf("%v\nand the plugins' task types cannot be read: %w", builtin, err)
	}
	wf, err = parse(reg)
	return wf, reg, err
}

// openRun opens the store and reads the run that arg (an id or a unique
// prefix of one) names. The caller closes the store.
func (a *app) openRun(ctx context.Context, arg string) (database, *cairn.Run, error) {
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	id, err := resolveRun(ctx, st, arg)
	if err == nil {
		var r *cairn.Run
		if r, err = st.GetRun(ctx, id); err == nil {
			return st, r, nil
		}
	}
	st.Close()
	return nil, nil, err
}

// resolveRun expands a run id prefix, with a helpful error.
func resolveRun(ctx context.Context, st database, prefix string) (string, error) {
	id, err := st.ResolveRunID(ctx, prefix)
	switch {
	case errors.Is(err, cairn.ErrNotFound):
		return "", fmt.Errorf("no run %q (see 'cairn runs')", prefix)
	case errors.Is(err, cairn.ErrAmbiguous):
		return "", fmt.Errorf("run id %q matches several runs; give more characters", prefix)
	case err != nil:
		return "", err
	}
	return id, nil
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return printable(s)
}
