// Package shell is the "shell" task type: it runs a command as a child
// process, for glue and for any tool outside Go.
//
// # Params
//
//	argv: [prog, arg...]   the command, run directly (no shell); prog without
//	                       a slash is looked up in the child's PATH
//	script: "..."          or a script run as /bin/sh -c "set -e\n<script>":
//	                       the script stops at the first failing command.
//	                       One simple command with no shell syntax
//	                       (python3 train.py --lr 0.1) is executed
//	                       directly, as /bin/sh would: see direct.go.
//	                       Exactly one of argv and script is required.
//	                       A ${{ }} reference in it is never script text:
//	                       see "References in a script" below.
//	env: {NAME: value}     extra environment variables
//	workdir: path          the child's working directory; default the
//	                       attempt's scratch directory (Request.WorkDir), a
//	                       relative path is taken relative to it
//	timeout: "10m"         stop the command after this long (the attempt's
//	                       context ends it too)
//	kill_grace: "5s"       how long a stopped command has between SIGTERM and
//	                       SIGKILL; default 5s
//	outputs: {name: path}  files the command writes, relative to workdir;
//	                       each becomes an artifact output of that name
//	values: {name: path}   files of one JSON value each (at most 1 MiB),
//	                       read back as value outputs (for_each, when:)
//	success_exit_codes: [0, 3]   exit codes that count as success; default [0]
//
// # Environment
//
// The child does not inherit the worker's environment, which may hold
// secrets: it gets PATH, HOME, TMPDIR and LANG from the worker (PATH
// defaults to /usr/local/bin:/usr/bin:/bin), then the `env` param, then
//
//	CAIRN_RUN_ID, CAIRN_TASK_ID, CAIRN_ATTEMPT, CAIRN_WORKDIR
//	CAIRN_INPUT_<NAME>=<file>    for each input artifact (read-only)
//	CAIRN_OUTPUT_<NAME>=<file>   for each declared output (its folder exists)
//
// where NAME is the input or output name in upper case with any character
// other than a letter, a digit or _ replaced by _. CAIRN_ variables cannot
// be set through `env`.
//
// # References in a script
//
// script is the one param a workflow does not splice references into
// (cairn.ParamInfo.Script): it arrives as a cairn.ScriptText, the text and
// the values apart. Each value is passed as the variable CAIRN_REF_<n>
// (n from 1, in the order of the references) and the text is rewritten to
// expand it, quoted as its place needs (script.go): "${CAIRN_REF_1}"
// unquoted, ${CAIRN_REF_1} inside "...". An expansion's result is never
// read as shell text again, so a value cannot run a command. A reference
// where the shell would not expand a variable (single quotes, $'...', a
// quoted here-document), where the expansion is text for another program
// (any here-document's body), where the shell or the command would
// evaluate it (arithmetic, [[ ]], let, declare -i, printf -v, test -v,
// wait -p, a[...]=, most ${...} forms; eval, trap, alias, sh -c, su -c,
// script -c, flock -c, env -S, ssh, watch, parallel, sg, tmux, screen;
// PS4, BASH_ENV, ENV) or
// where it names a variable (export "${{ }}", read) is refused by
// ValidateParams, with its offset, and by Run (permanent).
//
// # Log, exit and errors
//
// Stdout and stderr both go, raw and interleaved as written, to the
// attempt's log. When the log is an *os.File the child writes to it
// directly; otherwise (artifacts.LogWriter, which makes its file on the
// first byte) the child writes to one in-memory file (memfd), copied to
// the log when the command ends and every 250 ms while it runs, or where
// there is no memfd through one pipe; writes never interleave mid-chunk.
// A command that printed nothing, in a cgroup found empty at its end (no
// process of it left to write), hands its memfd, still empty, to the next
// command of the worker.
//
// The child runs in its own process group. When the attempt's context ends
// or the timeout passes, the whole group gets SIGTERM, then SIGKILL after
// kill_grace. When the child exits, whatever it started is killed, success
// included: its group, and (tasks/proctree) everything else — a setsid
// job, an orphan re-parented away. On Linux with a writable cgroup v2 the
// attempt runs in a cgroup of its own, which nothing it forks can leave
// (an emptied one is reused by a later attempt, tasks/proctree);
// otherwise the worker becomes a child subreaper and kills every process
// carrying the attempt's CAIRN_RUN_ID, CAIRN_TASK_ID and CAIRN_ATTEMPT and
// their descendants. On Linux the child is also killed (SIGKILL) if the
// worker process dies without stopping it (kill -9, a crash); what it
// started is killed by ReapOrphans before the task is retried.
//
// The output exit_code is set whenever the command was looked up, also
// alongside an error: the exit status, 128+N for a child killed by signal N,
// 127 for a command not found and 126 for one that cannot be executed. Errors
// found before that (bad params, a missing workdir or input) come with an
// empty Result. A timeout, a cancellation and an
// exit code outside success_exit_codes are retryable errors; bad params, a
// command that is not found or cannot be executed, arguments and
// environment over the system's limit (E2BIG), and a declared output
// missing after a successful exit, or that is a symbolic link or lies
// behind one under workdir, are permanent. An output is opened one path
// component at a time without following links (openat, O_NOFOLLOW) and
// checked on the open descriptor, so nothing can be swapped in between.
package shell
