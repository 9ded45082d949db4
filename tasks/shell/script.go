package shell

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cairnml/cairn"
)

// A script's ${{ }} references never become part of the script. The
// workflow hands the script over as a cairn.ScriptText (the text and the
// values apart); each reference reaches /bin/sh as an environment variable,
// CAIRN_REF_1, CAIRN_REF_2, ... in the order they appear, and the text is
// rewritten to expand it where the reference was:
//
//	unquoted                     "${CAIRN_REF_n}"   (one word, no globbing)
//	inside "..."                 ${CAIRN_REF_n}
//	inside `...` inside "..."    \"${CAIRN_REF_n}\"
//	in a comment                 CAIRN_REF_n
//
// An expansion's result is never parsed as shell text again, so no value
// can run a command, whatever it holds. Where the shell would not expand
// the variable (single quotes, $'...', a quoted here-document), where the
// expansion is text handed to another program (a here-document's body),
// where bash would evaluate the value as an expression or a name
// (arithmetic, [[ ]], let, declare -i, printf -v, test -v, and ${...}
// forms other than the word of - = ? + # %), where a command runs its
// arguments as shell code (eval, trap, sh -c, ...: see command) and in a
// variable's name (export "NAME"), the reference is refused, at validation
// with its position and at run time.

// refPrefix names the variables that carry a script's references.
const refPrefix = "CAIRN_REF_"

// refMark stands for a reference in the text the lexer reads; a script
// holds no NUL byte (it could not be passed to /bin/sh).
const refMark = '\x00'

// refContext is where a reference sits, as /bin/sh reads the script.
type refContext int

const (
	ctxUnquoted      refContext = iota + 1
	ctxDouble                   // "...", ${X:-word} inside "..."
	ctxBacktickDQ               // the command of `...` inside "..."
	ctxComment                  // # ...
	ctxSingle                   // '...' or $'...': refused
	ctxQuotedHeredoc            // the body of <<'EOF': refused
	ctxArith                    // $((...)), ((...)), $[...]: refused
	ctxParam                    // ${...} other than a word of - = ? + # %: refused
	ctxEscaped                  // right after \ or $: refused
	ctxHeredocWord              // the delimiter of <<: refused
	ctxNestedQuote              // inside quotes within `...` within "...", or `...` in a here-document: refused
	ctxHeredocBody              // the body of an unquoted here-document: refused
	ctxEvaluated                // an argument of eval, trap, alias, sh -c, su -c, ssh, watch: refused
	ctxAssignName               // the name part of an argument of export, declare, local, readonly, typeset, or a name for read: refused
	ctxBashArith                // [[ ]], let, declare -i/-a/-A/-n, printf -v NAME, test -v NAME: refused
)

// refusal says why a reference cannot sit in context c, and what to do;
// ok is false for a context that is allowed.
func refusal(c refContext) (msg, hint string, refused bool) {
	switch c {
	case ctxSingle:
		return "a reference inside single quotes ('...' or $'...'): the shell would not expand it there",
			`if the quoted text is a program for another tool (awk, python -c, sh -c), pass the value with env: {NAME: "${{ ... }}"} and read NAME from the environment there; if it is shell text, move the reference out of the single quotes (inside "..." is fine)`, true
	case ctxQuotedHeredoc:
		return "a reference inside a quoted here-document (<<'EOF'): the shell would not expand it there",
			`pass the value with env: {NAME: "${{ ... }}"} and read NAME from the environment in the here-document's program; unquote the delimiter if the body is shell text`, true
	case ctxArith:
		return "a reference inside arithmetic ($(( )), (( )) or $[ ]): the shell evaluates the value there as an expression, and bash runs commands found in one",
			`pass the value with env: {N: "${{ ... }}"}, check that it is a number (case $N in ''|*[!0-9]*) exit 1;; esac) and compute with $N`, true
	case ctxParam:
		return "a reference inside ${...} other than the word of - = ? + # % (a name, a bash offset, subscript or substitution)",
			`use the reference as a word of its own, or pass the value with env: and expand it there`, true
	case ctxEscaped:
		return `a reference right after a backslash or a "$"`,
			`remove the backslash or "$": the value is inserted as it is, and never read as shell text`, true
	case ctxHeredocWord:
		return "a reference in a here-document's delimiter", "write the delimiter literally", true
	case ctxHeredocBody:
		return "a reference inside a here-document's body or a here-string (<<<): the text is handed to another program (python3, sh, psql...), which may read the value as code",
			`pass the value with env: {X: "${{ ... }}"} and read it from the environment inside the program (os.environ["X"] in Python, "$X" in sh); to write a file, printf '%s\n' "${{ ... }}" > file`, true
	case ctxEvaluated:
		return "a reference in an argument of a command that runs its arguments as shell code (eval, trap, alias, sh/bash/... -c, su/runuser/script/flock -c, env -S, sg, ssh, watch, parallel, tmux, screen), or in PS4, a prompt, BASH_ENV or ENV, which the shell expands again",
			`pass the value with env: {X: "${{ ... }}"} and refer to "$X" inside the command string, written in single quotes (sh -c 'echo "$X"')`, true
	case ctxAssignName:
		return "a reference in a variable's name (export, declare, local, readonly, typeset, read): a value could set PATH or any variable, and bash evaluates a subscript in a name",
			`write the name literally and put the reference after the "=" (export NAME="${{ ... }}")`, true
	case ctxBashArith:
		return "a reference where bash evaluates the value as arithmetic or a variable name ([[ ]], let, declare -i/-a/-A/-n, printf -v, test -v, wait -p, an array's subscript in NAME[...]=), and runs commands found in it",
			`pass the value with env: {N: "${{ ... }}"}, check that it is a number (case $N in ''|*[!0-9]*) exit 1;; esac) and compare with [ "$N" -gt 0 ]`, true
	case ctxNestedQuote:
		return "a reference inside quotes within `...` inside double quotes, or inside `...` in a here-document",
			"write $(...) instead of `...` there", true
	}
	return "", "", false
}

// expansion is what replaces reference n (from 1) in context c.
func expansion(c refContext, n int) string {
	v := refPrefix + strconv.Itoa(n)
	switch c {
	case ctxUnquoted:
		return `"${` + v + `}"`
	case ctxDouble:
		return "${" + v + "}"
	case ctxBacktickDQ:
		return `\"${` + v + `}\"`
	}
	return v // a comment
}

// scriptParam is the script param: a plain string, or the cairn.ScriptText
// a workflow resolves a script with references to.
type scriptParam struct{ cairn.ScriptText }

func (s *scriptParam) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		s.ScriptText = cairn.ScriptText{Text: []string{str}}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var st cairn.ScriptText
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("want a string, got %s", bytes.TrimSpace(b))
	}
	if len(st.Text) != len(st.Values)+1 || len(st.Refs) != len(st.Values) {
		return fmt.Errorf("a script with references needs one more text piece than values (%d pieces, %d values, %d refs)", len(st.Text), len(st.Values), len(st.Refs))
	}
	s.ScriptText = st
	return nil
}

// refError is a reference that cannot go where it is.
type refError struct {
	n         int // the reference's index, from 0
	msg, hint string
}

// compile rewrites the script so that each reference expands its own
// variable, and returns the variables. Its errors are the script's
// fault (permanent).
func compile(st cairn.ScriptText) (string, map[string]string, error) {
	if len(st.Values) == 0 {
		return strings.Join(st.Text, ""), nil, nil
	}
	for i, v := range st.Values {
		if strings.IndexByte(v, 0) >= 0 {
			return "", nil, fmt.Errorf("script: the value of %s holds a NUL byte, which no program can be given", refName(st, i))
		}
	}
	for _, t := range st.Text {
		if strings.IndexByte(t, 0) >= 0 {
			return "", nil, fmt.Errorf("script: holds a NUL byte")
		}
	}
	marked := strings.Join(st.Text, string(refMark))
	ctxs, rerr := refContexts(marked)
	if rerr != nil {
		return "", nil, fmt.Errorf("script: %s: %s (%s)", refName(st, rerr.n), rerr.msg, rerr.hint)
	}
	var b strings.Builder
	vars := make(map[string]string, len(st.Values))
	for i, t := range st.Text {
		b.WriteString(t)
		if i < len(st.Values) {
			b.WriteString(expansion(ctxs[i], i+1))
			vars[refPrefix+strconv.Itoa(i+1)] = st.Values[i]
		}
	}
	return b.String(), vars, nil
}

func refName(st cairn.ScriptText, i int) string {
	if i < len(st.Refs) && st.Refs[i] != "" {
		return "${{ " + st.Refs[i] + " }}"
	}
	return fmt.Sprintf("reference %d", i+1)
}

// onlyRefs is the refusal of a script that is nothing but references.
var onlyRefs = refError{
	msg:  "the script is nothing but a reference: its value would be run as the name of a command, not as a script",
	hint: `write the commands in script: and refer to values inside them; to run a program a value names, use argv: ["${{ ... }}", ...]`,
}

// refContexts returns the context of each refMark in s, or the first
// reference that cannot go where it is.
func refContexts(s string) ([]refContext, *refError) {
	if strings.Trim(s, " \t\r\n"+string(refMark)) == "" {
		e := onlyRefs
		return nil, &e
	}
	l := &lexer{s: s}
	l.unquoted(region{}, 0)
	if want := strings.Count(s, string(refMark)); len(l.ctxs) != want {
		// Cannot happen: every path of the lexer marks what it passes.
		return nil, &refError{n: len(l.ctxs), msg: "the script's shell syntax could not be followed up to this reference", hint: "report this script as a bug"}
	}
	for i, c := range l.ctxs {
		if msg, hint, refused := refusal(c); refused {
			return nil, &refError{n: i, msg: msg, hint: hint}
		}
	}
	return l.ctxs, nil
}

// splitRefs finds the ${{ }} references of a script as written in a
// workflow (as the workflows package reads them: "$${{" is a literal
// "${{"): the text with refMark in their place, and their byte offsets in
// s. An unterminated reference ends the search (the workflow reports it).
func splitRefs(s string) (string, []int) {
	var b strings.Builder
	var offs []int
	i := 0
	for i < len(s) {
		j := strings.Index(s[i:], "${{")
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		j += i
		if j > 0 && s[j-1] == '$' {
			b.WriteString(s[i : j-1])
			b.WriteString("${{")
			i = j + 3
			continue
		}
		b.WriteString(s[i:j])
		end := strings.Index(s[j+3:], "}}")
		if end < 0 {
			b.WriteString(s[j:])
			break
		}
		b.WriteByte(refMark)
		offs = append(offs, j)
		i = j + 3 + end + 2
	}
	return b.String(), offs
}

// checkScriptRefs is the validation of a script's references as written:
// the offset in s of the first one refused, and why.
func checkScriptRefs(s string) (off int, msg, hint string, ok bool) {
	if strings.IndexByte(s, 0) >= 0 {
		return 0, "holds a NUL byte", "", false
	}
	marked, offs := splitRefs(s)
	if len(offs) == 0 {
		return 0, "", "", true
	}
	if _, rerr := refContexts(marked); rerr != nil {
		return offs[rerr.n], rerr.msg, rerr.hint, false
	}
	return 0, "", "", true
}

// region is a stretch of unquoted shell text (the script, the command of
// $(...) or `...`, the word of ${X:-word}) and what encloses it.
type region struct {
	refuse refContext // when set, every reference inside gets it
	dq     bool       // a ${ } word inside "...": references expand unquoted
	bqdq   bool       // the command of `...` inside "..."
}

func (r region) ctx() refContext {
	switch {
	case r.refuse != 0:
		return r.refuse
	case r.bqdq:
		return ctxBacktickDQ
	case r.dq:
		return ctxDouble
	}
	return ctxUnquoted
}

// inner is the refusal a construct nested in r inherits.
func (r region) inner() refContext {
	if r.refuse != 0 {
		return r.refuse
	}
	if r.bqdq {
		return ctxNestedQuote
	}
	return 0
}

// heredoc is a here-document whose body starts after the next newline.
type heredoc struct {
	delim         string
	quoted, strip bool
}

// lexer follows /bin/sh's quoting far enough to tell where each reference
// sits. It errs on the side of refusing: where it cannot follow the shell,
// a reference ends up refused or expanded in a way that is still data.
type lexer struct {
	s       string
	i       int
	ctxs    []refContext
	pos     []int // the offset in s of each reference
	pending []heredoc
}

func (l *lexer) mark(c refContext) {
	l.ctxs = append(l.ctxs, c)
	l.pos = append(l.pos, l.i)
	l.i++
}

func (l *lexer) peek(k int) byte {
	if l.i+k < len(l.s) {
		return l.s[l.i+k]
	}
	return 0xff
}

// backslash passes \x; a reference right after it is refused.
func (l *lexer) backslash() {
	if l.peek(1) == refMark {
		l.i++
		l.mark(ctxEscaped)
		return
	}
	l.i = min(l.i+2, len(l.s))
}

// unquoted reads unquoted text up to end at depth 0 (0: the end of the
// text; ')' counts parentheses; '`' and '}' end at the first unquoted one).
func (l *lexer) unquoted(r region, end byte) {
	depth := 0
	wordStart := true
	innerDQ := false // between \" and \" in the command of `...` inside "..."
	track := end != '}' && r.refuse == 0
	var cmd command
	word := -1 // the offset where the current word starts, -1 between words
	endWord := func() {
		if word >= 0 && track {
			// A file descriptor's number before a redirection is no word.
			fd := (l.peek(0) == '<' || l.peek(0) == '>') && strings.Trim(l.s[word:l.i], "0123456789") == ""
			if !fd {
				cmd.word(l, word, l.i)
			}
		}
		word = -1
	}
	defer endWord()
	for l.i < len(l.s) {
		c := l.s[l.i]
		if end != 0 && c == end && depth == 0 {
			endWord()
			l.i++
			return
		}
		if strings.IndexByte(" \t\n;&|()<>", c) >= 0 {
			endWord()
			redir := (c == '&' || c == '|') && l.i > 0 && (l.s[l.i-1] == '>' || l.s[l.i-1] == '<')
			if track && !redir && strings.IndexByte(";&|()\n", c) >= 0 && !cmd.dbrack {
				cmd = command{}
			}
			if track && (c == '<' || c == '>') && !cmd.dbrack {
				cmd.redir = true // the next word is a redirection's target
				if strings.HasPrefix(l.s[l.i:], "<<<") {
					cmd.next = ctxHeredocBody
				}
			}
		} else if word < 0 && !(c == '#' && wordStart) && !(c == '(' && l.peek(1) == '(' && wordStart) {
			word = l.i
		}
		switch {
		case c == refMark && innerDQ:
			l.mark(ctxDouble)
		case c == refMark:
			l.mark(r.ctx())
		case c == '\\' && r.bqdq && r.refuse == 0 && l.peek(1) == '"':
			innerDQ = !innerDQ
			l.i += 2
		case c == '\\':
			l.backslash()
		case c == '\'':
			l.single(r, false)
		case c == '"':
			l.i++
			l.double(r)
		case c == '`':
			l.i++
			l.unquoted(region{refuse: r.inner()}, '`')
		case c == '$':
			l.dollar(r, false)
		case c == '#' && wordStart:
			for l.i < len(l.s) && l.s[l.i] != '\n' {
				if l.s[l.i] == refMark {
					l.mark(ctxComment)
				} else {
					l.i++
				}
			}
		case c == '(' && l.peek(1) == '(' && wordStart:
			l.i += 2
			l.unquoted(region{refuse: ctxArith}, ')')
			if l.peek(0) == ')' {
				l.i++
			}
		case c == '(':
			depth++
			l.i++
		case c == ')':
			depth--
			l.i++
		case c == '<' && l.peek(1) == '<' && r.refuse == ctxArith:
			l.i += 2 // a shift
		case c == '<' && l.peek(1) == '<' && l.peek(2) == '<':
			l.i += 3 // a bash here-string: an ordinary word follows
		case c == '<' && l.peek(1) == '<':
			l.i += 2
			l.heredocOp()
			cmd.redir = false // heredocOp read the delimiter
		case c == '\n':
			l.i++
			l.bodies()
		default:
			l.i++
		}
		wordStart = strings.IndexByte(" \t\n;&|()<>", c) >= 0
	}
}

// command is what the lexer knows of the simple command it is in: enough
// to refuse references in the arguments of the commands that read them as
// shell code, arithmetic or a variable's name. It sees a command only as
// its literal words (eval, not $E); wrappers are looked through where they
// put the command among their arguments (timeout 5 sh -c, xargs sh -c,
// find -exec sh -c, env, sudo, nice: any word sh, bash, ... or ssh, watch
// counts, wherever it is in the simple command).
type command struct {
	words  int        // the words seen, past leading assignments and reserved words
	name   string     // the command word, literal (its last path element)
	refuse refContext // every reference from here to the command's end
	next   refContext // the references of the next word only
	redir  bool       // the next word is a redirection's target, not the command's
	wrap   bool       // after command, builtin or exec: options, then the command word
	fn     bool       // after the keyword function: the function's name
	shell  bool       // a shell (or su) is among the words
	env    bool       // env is among the words (then -S runs its string)
	script bool       // past a shell's -c: the words up to the first operand (the command string) are code
	dbrack bool       // inside [[ ... ]]
}

var (
	shellWords   = set("sh", "bash", "dash", "zsh", "ksh", "mksh", "ksh93", "ash", "yash", "posh", "busybox", "su", "runuser", "csh", "tcsh", "fish", "script", "flock")
	evalWords    = set("eval", "trap", "alias")
	anywhere     = set("ssh", "watch", "parallel", "sg", "tmux", "screen")
	reserved     = set("if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time", "command", "builtin", "exec", "coproc")
	declareWords = set("export", "declare", "local", "readonly", "typeset")
	nameWords    = set("read", "mapfile", "readarray")
)

func set(ws ...string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[w] = true
	}
	return m
}

// plain is a word with its quotes and backslashes removed, as the shell
// reads it, when it holds no expansion and no reference ("eval", \eval
// and 'eval' are eval).
func plain(w string) (string, bool) {
	if strings.ContainsAny(w, "$`"+string(refMark)) {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		switch c := w[i]; c {
		case '\'', '"':
		case '\\':
			if i+1 < len(w) {
				i++
				b.WriteByte(w[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// assignment reports whether w is NAME=..., with a literal name.
func assignment(w string) bool {
	eq := strings.IndexByte(w, '=')
	if eq <= 0 {
		return false
	}
	for i := 0; i < eq; i++ {
		c := w[i]
		if c != '_' && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// promptVar reports whether w assigns a variable whose value the shell
// expands again, command substitutions included: PS4 at each command of
// set -x, the prompts, and BASH_ENV and ENV, the startup file a shell it
// starts names by them.
func promptVar(w string) bool {
	for _, v := range []string{"PS0=", "PS1=", "PS2=", "PS3=", "PS4=", "PROMPT_COMMAND=", "BASH_ENV=", "ENV="} {
		if strings.HasPrefix(w, v) {
			return true
		}
	}
	return false
}

// word takes the word s[start:end] of the simple command, and refuses
// its references where the command makes them code.
func (c *command) word(l *lexer, start, end int) {
	w := l.s[start:end]
	refuse := func(ctx refContext, name bool) {
		for k, p := range l.pos {
			if p < start || p >= end {
				continue
			}
			if name && strings.IndexByte(l.s[start:p], '=') >= 0 {
				continue
			}
			if _, _, refused := refusal(l.ctxs[k]); !refused {
				l.ctxs[k] = ctx
			}
		}
	}
	if c.refuse != 0 {
		refuse(c.refuse, false)
	}
	if c.next != 0 {
		refuse(c.next, false)
		c.next = 0
	}
	if c.dbrack {
		refuse(ctxBashArith, false)
		if w == "]]" {
			*c = command{}
		}
		return
	}
	if c.redir {
		c.redir = false
		return
	}
	if open, shut, ok := subscript(w); ok {
		// bash evaluates an assignment's subscript, NAME[...]=, as
		// arithmetic (and runs the commands found in it).
		for k, p := range l.pos {
			if p > start+open && p < start+shut {
				if _, _, refused := refusal(l.ctxs[k]); !refused {
					l.ctxs[k] = ctxBashArith
				}
			}
		}
	}
	w, lit := plain(w)
	if !lit || w == "" {
		w = l.s[start:end]
	}
	if c.script {
		refuse(ctxEvaluated, false)
		c.script = lit && w != "" && w[0] == '-'
	}
	base := w
	if k := strings.LastIndexByte(w, '/'); k >= 0 && lit {
		base = w[k+1:]
	}
	if promptVar(l.s[start:end]) && (c.words == 0 || declareWords[c.name]) {
		refuse(ctxEvaluated, false)
	}
	if c.fn {
		c.fn = false // the function's name
		return
	}
	if c.words == 0 {
		if lit && w == "function" {
			c.fn = true
			return
		}
		if (lit && reserved[w]) || assignment(w) || (c.wrap && lit && w[0] == '-') {
			c.wrap = c.wrap || (lit && (w == "command" || w == "builtin" || w == "exec" || w == "time"))
			return
		}
		c.words = 1
		if lit {
			c.name = base
		}
		switch {
		case w == "[[":
			c.dbrack = true
		case evalWords[c.name]:
			c.refuse = ctxEvaluated
		case c.name == "let":
			c.refuse = ctxBashArith
		}
	} else {
		c.words++
		switch {
		case declareWords[c.name] && (w[0] == '-' || w[0] == '+') && lit:
			if strings.ContainsAny(w, "inaA") {
				c.refuse = ctxBashArith
			}
		case declareWords[c.name]:
			refuse(ctxAssignName, true)
		case nameWords[c.name] && !(lit && w[0] == '-'):
			refuse(ctxAssignName, false)
		case (c.name == "printf" || c.name == "test" || c.name == "[") && w == "-v",
			c.name == "wait" && lit && w[0] == '-' && strings.HasSuffix(w, "p"): // wait -p NAME, -np NAME
			c.next = ctxBashArith
		case (c.name == "printf" || c.name == "test" || c.name == "[") && strings.HasPrefix(w, "-v"):
			refuse(ctxBashArith, false) // -vNAME
		}
	}
	if !lit {
		if (c.shell || c.env) && strings.HasPrefix(l.s[start:end], "-") {
			refuse(ctxEvaluated, false) // an option holding a reference: -c"...", --command=...
		}
		return
	}
	switch {
	case base == "env":
		c.env = true
	case c.env && (w == "-S" || strings.HasPrefix(w, "--split-string")):
		c.refuse = ctxEvaluated // env -S splits its string into a command line
	case shellWords[base]:
		c.shell = true
	case anywhere[base]:
		c.refuse = ctxEvaluated
	case c.shell && len(w) > 1 && w[0] == '-' && w[1] != '-' && strings.IndexByte(w, 'c') >= 0,
		c.shell && w == "--command": // script --command CMD
		c.script = true
	}
}

// subscript finds, in a word NAME[...]= or NAME[...]+= (an array
// element's assignment), the offsets of its brackets.
func subscript(w string) (open, shut int, ok bool) {
	open = strings.IndexByte(w, '[')
	if open <= 0 || !assignment(w[:open]+"=") {
		return 0, 0, false
	}
	depth := 0
	for i := open; i < len(w); i++ {
		switch w[i] {
		case '[':
			depth++
		case ']':
			if depth--; depth == 0 {
				rest := w[i+1:]
				return open, i, strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "+=")
			}
		}
	}
	return 0, 0, false
}

// single reads '...' (or $'...', whose backslashes escape) from its quote.
func (l *lexer) single(r region, ansi bool) {
	c := r.inner()
	if c == 0 {
		c = ctxSingle
	}
	l.i++
	for l.i < len(l.s) {
		switch l.s[l.i] {
		case '\'':
			l.i++
			return
		case refMark:
			l.mark(c)
		case '\\':
			if ansi {
				l.backslash()
				continue
			}
			l.i++
		default:
			l.i++
		}
	}
}

// double reads "..." after its opening quote.
func (l *lexer) double(r region) {
	c := r.inner()
	if c == 0 {
		c = ctxDouble
	}
	for l.i < len(l.s) {
		switch l.s[l.i] {
		case '"':
			l.i++
			return
		case refMark:
			l.mark(c)
		case '\\':
			l.backslash()
		case '`':
			l.i++
			if c == ctxDouble {
				l.unquoted(region{bqdq: true}, '`')
			} else {
				l.unquoted(region{refuse: c}, '`')
			}
		case '$':
			l.dollar(region{refuse: r.inner()}, true)
		default:
			l.i++
		}
	}
}

// dollar reads what starts with $ (inDQ: inside "..." or a here-document).
func (l *lexer) dollar(r region, inDQ bool) {
	switch next := l.peek(1); {
	case next == '(' && l.peek(2) == '(':
		l.i += 3
		l.unquoted(region{refuse: ctxArith}, ')')
		if l.peek(0) == ')' {
			l.i++
		}
	case next == '(':
		l.i += 2
		l.unquoted(region{refuse: r.inner()}, ')')
	case next == '[':
		l.i += 2
		l.unquoted(region{refuse: ctxArith}, ']')
	case next == '{':
		l.i += 2
		l.param(r, inDQ)
	case next == '\'' && !inDQ:
		l.i++
		l.single(r, true)
	case next == refMark:
		l.i++
		l.mark(ctxEscaped)
	default:
		l.i++
	}
}

// param reads ${...} after its brace.
func (l *lexer) param(r region, inDQ bool) {
	if l.peek(0) == '#' && l.peek(1) != '}' {
		l.i++ // ${#NAME}
	}
	// The name: a special character, or letters, digits and _.
	if c := l.peek(0); c != 0xff && strings.IndexByte("@*#?-$!", c) >= 0 {
		l.i++
	} else {
		for l.i < len(l.s) {
			c := l.s[l.i]
			if c == refMark {
				l.mark(ctxParam)
				continue
			}
			if c != '_' && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') {
				break
			}
			l.i++
		}
	}
	word := region{refuse: r.inner(), dq: inDQ || r.dq}
	rest := l.s[l.i:]
	for _, op := range []string{":-", ":=", ":?", ":+", "##", "%%", "-", "=", "?", "+", "#", "%"} {
		if strings.HasPrefix(rest, op) {
			l.i += len(op)
			l.unquoted(word, '}')
			return
		}
	}
	if l.peek(0) == '}' {
		l.i++
		return
	}
	// A bash form (${X:1:2}, ${X/a/b}, ${X[i]}, ${X^^}): refused inside.
	l.unquoted(region{refuse: ctxParam}, '}')
}

// heredocOp reads the delimiter after << (or <<-).
func (l *lexer) heredocOp() {
	h := heredoc{}
	if l.peek(0) == '-' {
		h.strip = true
		l.i++
	}
	for l.i < len(l.s) && (l.s[l.i] == ' ' || l.s[l.i] == '\t') {
		l.i++
	}
	var d strings.Builder
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case strings.IndexByte(" \t\n;&|()<>", c) >= 0:
			h.delim = d.String()
			l.pending = append(l.pending, h)
			return
		case c == refMark:
			l.mark(ctxHeredocWord)
		case c == '\\':
			h.quoted = true
			if l.peek(1) == refMark {
				l.i++
				continue
			}
			if l.peek(1) != 0xff {
				d.WriteByte(l.peek(1))
			}
			l.i = min(l.i+2, len(l.s))
		case c == '\'' || c == '"':
			h.quoted = true
			l.i++
			for l.i < len(l.s) && l.s[l.i] != c {
				if l.s[l.i] == refMark {
					l.mark(ctxHeredocWord)
					continue
				}
				d.WriteByte(l.s[l.i])
				l.i++
			}
			l.i = min(l.i+1, len(l.s))
		default:
			d.WriteByte(c)
			l.i++
		}
	}
	h.delim = d.String()
	l.pending = append(l.pending, h)
}

// bodies reads the bodies of the pending here-documents, after a newline.
func (l *lexer) bodies() {
	hs := l.pending
	l.pending = nil
	for _, h := range hs {
		for l.i < len(l.s) {
			eol := strings.IndexByte(l.s[l.i:], '\n')
			if eol < 0 {
				eol = len(l.s) - l.i
			}
			line := l.s[l.i : l.i+eol]
			if h.strip {
				line = strings.TrimLeft(line, "\t")
			}
			if line == h.delim {
				l.i = min(l.i+eol+1, len(l.s))
				break
			}
			if h.quoted {
				for end := l.i + eol; l.i < end; {
					if l.s[l.i] == refMark {
						l.mark(ctxQuotedHeredoc)
					} else {
						l.i++
					}
				}
				l.i = min(l.i+1, len(l.s))
				continue
			}
			l.bodyLine()
		}
	}
}

// bodyLine reads one line of an unquoted here-document's body, through
// its newline: expansions are live, quotes are not.
func (l *lexer) bodyLine() {
	for l.i < len(l.s) {
		switch l.s[l.i] {
		case '\n':
			l.i++
			return
		case refMark:
			l.mark(ctxHeredocBody)
		case '\\':
			l.backslash()
		case '`':
			l.i++
			l.unquoted(region{refuse: ctxHeredocBody}, '`')
		case '$':
			l.dollar(region{refuse: ctxHeredocBody}, true)
		default:
			l.i++
		}
	}
}
