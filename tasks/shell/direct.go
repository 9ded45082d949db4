package shell

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// A script that is one simple command with no shell syntax at all
// (`python3 train.py --lr 0.1`, `/bin/true`) is run directly, without
// /bin/sh, as GNU make does for its recipe lines: that spares the start
// of a shell, which costs about as much as the command itself for a short
// one (a fork/exec of dash and its reading the script: ~1 ms here). It
// must make no difference to the command, so the direct path is taken
// only where what /bin/sh would do is known exactly, and is given up for
// /bin/sh whenever anything is out of the ordinary:
//
//   - /bin/sh is dash (the shell this was written against and is tested
//     with, TestDirectScriptIsLikeSh);
//   - the script, once blanks and newlines around it are trimmed, is words
//     of letters, digits and - _ . / , : + @ % ^ = separated by spaces or
//     tabs: no quote, escape, variable, glob, tilde, comment, redirection,
//     pipe, list, subshell or newline, nothing that is not ASCII;
//   - the first word is not an assignment (it holds no =), nor a
//     reserved word or a builtin of dash or bash (cd, export, ., echo,
//     true, test, ...: a builtin may differ from the program of that name);
//   - the environment holds no variable that dash sets or drops itself
//     (PWD, IFS, OPTIND, PPID, LINENO, or a name that is not a shell name,
//     which dash does not pass on), and PATH no dash %option entry;
//   - the command is found as dash finds it (a word with a slash as it is;
//     else the first regular file named so in the PATH entries, an empty
//     entry meaning the working directory), and that file has an execute
//     bit;
//   - and it starts: when the exec fails in any way (not executable, not a
//     binary and without #!, gone meanwhile), the script runs under /bin/sh
//     after all, which then says what it says about it (not found: 127,
//     cannot execute: 126, a file without #! run as a script).
//
// The command then gets what dash would have passed it: the same argv
// (the words; argv[0] as written), the same environment plus the PWD
// dash exports (the working directory with no symbolic link in it), the
// same working directory, standard input and output; and the log gets
// the line dash writes when its command is killed by a signal ("Killed",
// "Segmentation fault (core dumped)"; none for SIGINT and SIGPIPE). The order of the
// environment's entries differs (dash passes them in the order of its
// hash table). What differs otherwise is only the process tree: the
// command is the attempt's process itself, not a child of dash's; so a
// command stopped by its context gets SIGTERM from Cairn alone (not
// also seeing its shell die of it) and its own exit status is recorded.

// directSh reports whether /bin/sh is dash, whose behaviour the direct
// path reproduces.
var directSh = sync.OnceValue(func() bool {
	p, err := filepath.EvalSymlinks("/bin/sh")
	return err == nil && filepath.Base(p) == "dash"
})

// shSyntaxFree is the bytes a word of a simple command may hold: none has a
// meaning to the shell anywhere in a word.
var shSyntaxFree = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_./,:+@%^=" {
		t[c] = true
	}
	return t
}()

// shWords are the reserved words and builtins of dash and bash (and the
// POSIX utilities a shell may build in): a command named so is left to
// the shell. Built when a shell task first runs, not at every start.
var shWords = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		! { } [[ ]] case do done elif else esac fi for function if in select then time until while coproc
		. : [ alias bg bind break builtin caller cd chdir command compgen complete compopt continue
		declare dirs disown echo enable eval exec exit export false fc fg getopts hash help history
		jobs kill let local logout mapfile newgrp popd printf pushd pwd read readarray readonly return
		set shift shopt source suspend test times trap true type typeset ulimit umask unalias unset wait`) {
		m[w] = true
	}
	return m
})

// simpleWords returns the words of script when it is a simple command
// with no shell syntax (see above), and whether it is.
func simpleWords(script string) ([]string, bool) {
	s := strings.Trim(script, " \t\n")
	if s == "" {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !shSyntaxFree[c] && c != ' ' && c != '\t' {
			return nil, false
		}
	}
	words := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
	if strings.Contains(words[0], "=") || shWords()[words[0]] {
		return nil, false
	}
	return words, true
}

// shSetVars are the variables dash sets or resets itself when it starts.
var shSetVars = map[string]bool{"PWD": true, "IFS": true, "OPTIND": true, "PPID": true, "LINENO": true}

// directEnvOK reports whether dash would pass vars on unchanged but for
// the PWD it adds.
func directEnvOK(vars map[string]string) bool {
	for k := range vars {
		if shSetVars[k] || !isIdent(k) {
			return false
		}
	}
	return !strings.Contains(vars["PATH"], "%")
}

// shFind finds the program of a command word as dash does, from the
// working directory wd: a word with a slash is the path itself; otherwise
// the first regular file named so in pathList's entries, an empty entry
// being the working directory. ok is false when the word is not found, or
// its file has no execute bit: the shell, run instead, says so.
func shFind(word, pathList, wd string) (string, bool) {
	if strings.Contains(word, "/") {
		return word, true
	}
	for _, dir := range strings.Split(pathList, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + word
		if !filepath.IsAbs(p) {
			p = filepath.Join(wd, p)
		}
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if st.Mode()&0o111 == 0 {
			return "", false
		}
		return p, true
	}
	return "", false
}

// direct returns how to run script without a shell, for the environment
// vars in working directory wd: the program, argv, and the environment
// entries to add (PWD); ok false when the script needs /bin/sh.
func direct(script string, vars map[string]string, wd string) (prog string, argv []string, pwd string, ok bool) {
	words, ok := simpleWords(script)
	if !ok || !directSh() || !directEnvOK(vars) {
		return "", nil, "", false
	}
	prog, ok = shFind(words[0], vars["PATH"], wd)
	if !ok {
		return "", nil, "", false
	}
	// dash exports PWD as getcwd(3) gives it: no symbolic link in it.
	real, err := filepath.EvalSymlinks(wd)
	if err != nil || !filepath.IsAbs(real) {
		return "", nil, "", false
	}
	return prog, words, real, true
}

// glibcSignals are strsignal(3)'s names of the signals, as dash prints
// them.
var glibcSignals = [...]string{
	1: "Hangup", 2: "Interrupt", 3: "Quit", 4: "Illegal instruction", 5: "Trace/breakpoint trap",
	6: "Aborted", 7: "Bus error", 8: "Floating point exception", 9: "Killed", 10: "User defined signal 1",
	11: "Segmentation fault", 12: "User defined signal 2", 13: "Broken pipe", 14: "Alarm clock",
	15: "Terminated", 16: "Stack fault", 17: "Child exited", 18: "Continued", 19: "Stopped (signal)",
	20: "Stopped", 21: "Stopped (tty input)", 22: "Stopped (tty output)", 23: "Urgent I/O condition",
	24: "CPU time limit exceeded", 25: "File size limit exceeded", 26: "Virtual timer expired",
	27: "Profiling timer expired", 28: "Window changed", 29: "I/O possible", 30: "Power failure",
	31: "Bad system call",
}

// shSignalNote is the line dash writes to its standard error when its
// command was killed by signal sig: the signal's name, " (core dumped)"
// if it dumped core; none for SIGINT and SIGPIPE.
func shSignalNote(sig int, core bool) string {
	var s string
	switch {
	case sig == 2 || sig == 13:
		return ""
	case sig > 0 && sig < len(glibcSignals):
		s = glibcSignals[sig]
	case sig >= 34: // glibc's SIGRTMIN
		s = "Real-time signal " + strconv.Itoa(sig-34)
	default:
		s = "Unknown signal " + strconv.Itoa(sig)
	}
	if core {
		s += " (core dumped)"
	}
	return s + "\n"
}
