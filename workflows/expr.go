package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
)

// The `when:` language, by increasing precedence:
//
//	or      = and { "||" and }
//	and     = eq { "&&" eq }
//	eq      = cmp { ("==" | "!=") cmp }
//	cmp     = unary { ("<" | "<=" | ">" | ">=") unary }
//	unary   = "!" unary | primary
//	primary = literal | reference | "(" or ")" | "${{" or "}}"

type tokKind int

const (
	tokEOF   tokKind = iota
	tokLit           // true, false, null, number, string
	tokRef           // params.x, tasks.a.outputs.b
	tokOp            // ! == != < <= > >= && ||
	tokOpen          // ( or ${{
	tokClose         // ) or }}
)

type token struct {
	kind tokKind
	text string // operator, bracket or the reference text
	val  any    // literal value
	off  int
}

// Limits of one expression, enforced while it is read so that a hostile
// one costs no more than they allow: its brackets nest at most
// maxExprDepth deep (the parser's own limit on its recursion is the
// same), and it has at most maxExprTokens tokens.
const (
	maxExprDepth  = 100
	maxExprTokens = 10000
)

// tooDeep is the refusal of an expression nested past maxExprDepth, at
// off.
func tooDeep(off int) *textError {
	return &textError{off: off, msg: fmt.Sprintf("expression nested too deeply: more than %d brackets or operators inside one another", maxExprDepth),
		hint: "split the condition: compute it in a task and test its output"}
}

func lex(s string) ([]token, *textError) {
	var toks []token
	depth := 0
	// add appends t, refusing an expression past the limits.
	add := func(t token) *textError {
		switch t.kind {
		case tokOpen:
			if depth++; depth > maxExprDepth {
				return tooDeep(t.off)
			}
		case tokClose:
			depth--
		}
		if len(toks) >= maxExprTokens {
			return &textError{off: t.off, msg: fmt.Sprintf("expression too long: more than %d tokens", maxExprTokens),
				hint: "split the condition: compute it in a task and test its output"}
		}
		toks = append(toks, t)
		return nil
	}
	i := 0
	for i < len(s) {
		c := s[i]
		var t token
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(s[i:], "${{"):
			t = token{kind: tokOpen, text: "${{", off: i}
			i += 3
		case strings.HasPrefix(s[i:], "}}"):
			t = token{kind: tokClose, text: "}}", off: i}
			i += 2
		case c == '(':
			t = token{kind: tokOpen, text: "(", off: i}
			i++
		case c == ')':
			t = token{kind: tokClose, text: ")", off: i}
			i++
		case strings.HasPrefix(s[i:], "&&") || strings.HasPrefix(s[i:], "||") ||
			strings.HasPrefix(s[i:], "==") || strings.HasPrefix(s[i:], "!=") ||
			strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">="):
			t = token{kind: tokOp, text: s[i : i+2], off: i}
			i += 2
		case c == '!' || c == '<' || c == '>':
			t = token{kind: tokOp, text: s[i : i+1], off: i}
			i++
		case c == '=':
			return nil, &textError{off: i, msg: "unexpected \"=\" in expression", hint: "compare with =="}
		case c == '&' || c == '|':
			return nil, &textError{off: i, msg: fmt.Sprintf("unexpected %q in expression", c),
				hint: fmt.Sprintf("did you mean %q?", string([]byte{c, c}))}
		case c == '\'' || c == '"':
			str, n, err := lexString(s[i:])
			if err != nil {
				err.off += i
				return nil, err
			}
			t = token{kind: tokLit, val: str, off: i}
			i += n
		case c == '-' || c == '.' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				(s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			num, ok := lexNumber(s[i:j])
			if !ok {
				return nil, &textError{off: i, msg: fmt.Sprintf("malformed number %q", s[i:j])}
			}
			t = token{kind: tokLit, val: num, off: i}
			i = j
		case isWordChar(rune(c)):
			j := i
			for j < len(s) && (isWordChar(rune(s[j])) || s[j] == '.') {
				j++
			}
			w := s[i:j]
			switch w {
			case "true":
				t = token{kind: tokLit, val: true, off: i}
			case "false":
				t = token{kind: tokLit, val: false, off: i}
			case "null":
				t = token{kind: tokLit, val: nil, off: i}
			default:
				t = token{kind: tokRef, text: w, off: i}
			}
			i = j
		default:
			r := []rune(s[i:])[0]
			return nil, &textError{off: i, msg: fmt.Sprintf("unexpected %q in expression", r)}
		}
		if t.kind == tokEOF {
			continue // white space
		}
		if err := add(t); err != nil {
			return nil, err
		}
	}
	return append(toks, token{kind: tokEOF, off: len(s)}), nil
}

// lexNumber reads a number literal as a json.Number in one spelling: an
// integer (digits, optionally negative) exactly, in its shortest decimal
// form, however large (so 9007199254740993 is not rounded to 2^53); any
// other number as the float64 it denotes, in Go's shortest form. It refuses
// what is not a finite float64.
func lexNumber(s string) (json.Number, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	if len(s) <= maxExactDigits && isIntegerText(s) {
		var b big.Int
		if _, ok := b.SetString(s, 10); ok {
			return json.Number(b.String()), true
		}
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), true
}

// maxExactDigits bounds the integers compared exactly (a longer one, far
// beyond float64's range, compares as its float64, ±Inf), so that a huge
// number costs no quadratic-time decimal conversion.
const maxExactDigits = 400

func isIntegerText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// numCmp compares two JSON numbers: integers (digits only) by their exact
// value however large, other numbers as the float64 they denote (exactly,
// so 2^53+1 > 2^53 and 1 == 1.0). A number beyond float64's range that is
// not an integer counts as ±Inf. Exponents are never expanded, so
// 1e999999999 costs no more than 1e9.
func numCmp(a, b json.Number) int {
	x, xf := numValue(a)
	y, yf := numValue(b)
	if x != nil && y != nil {
		return x.Cmp(y)
	}
	switch {
	case xf < yf:
		return -1
	case xf > yf:
		return 1
	}
	return 0
}

// numValue is n as an exact rational, or nil and ±Inf for a non-integer
// beyond float64's range; the float is n's float64 value in either case
// (for an integer, rounded; ±Inf when it overflows).
func numValue(n json.Number) (*big.Rat, float64) {
	s := string(n)
	if len(s) <= maxExactDigits && isIntegerText(s) {
		var i big.Int
		if _, ok := i.SetString(s, 10); ok {
			f, _ := new(big.Float).SetInt(&i).Float64()
			return new(big.Rat).SetInt(&i), f
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, f
	}
	return new(big.Rat).SetFloat64(f), f
}

// jsonEqual is == on JSON values, numbers compared by their exact value
// (1 == 1.0, and 2^53+1 != 2^53), lists and maps element by element.
func jsonEqual(l, r any) bool {
	switch l := l.(type) {
	case json.Number:
		r, ok := r.(json.Number)
		if !ok {
			return false
		}
		return numCmp(l, r) == 0
	case []any:
		r, ok := r.([]any)
		if !ok || len(l) != len(r) {
			return false
		}
		for i := range l {
			if !jsonEqual(l[i], r[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		r, ok := r.(map[string]any)
		if !ok || len(l) != len(r) {
			return false
		}
		for k, v := range l {
			w, ok := r[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(l, r)
}

// lexString reads a quoted string at the start of s: 'single' (” is a
// quote) or "double" (with \" \\ \n \t escapes). It returns the value and
// the bytes consumed.
func lexString(s string) (string, int, *textError) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\' && q == '"' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '"', '\\':
				b.WriteByte(s[i])
			default:
				return "", 0, &textError{off: i - 1, msg: fmt.Sprintf("unknown escape \\%c in string", s[i])}
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, &textError{off: 0, msg: "unterminated string in expression"}
}

// node is a parsed expression.
type node interface{}

type litNode struct{ v any }

type refNode struct{ r ref }

type notNode struct{ x node }

type binNode struct {
	op   string
	l, r node
	off  int
}

type exprParser struct {
	toks  []token
	i     int
	depth int
}

// parseExpr parses a `when:` expression.
func parseExpr(s string) (node, *textError) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 1 {
		return nil, &textError{off: 0, msg: "empty expression"}
	}
	p := &exprParser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, &textError{off: t.off, msg: fmt.Sprintf("unexpected %s in expression", t.describe())}
	}
	return n, nil
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokLit:
		b, _ := json.Marshal(t.val)
		return string(b)
	}
	return strconv.Quote(t.text)
}

func (p *exprParser) peek() token { return p.toks[p.i] }

func (p *exprParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *exprParser) binary(ops []string, sub func() (node, *textError)) (node, *textError) {
	l, err := sub()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tokOp || !contains(ops, t.text) {
			return l, nil
		}
		p.next()
		r, err := sub()
		if err != nil {
			return nil, err
		}
		l = &binNode{op: t.text, l: l, r: r, off: t.off}
	}
}

func (p *exprParser) or() (node, *textError) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 100 {
		return nil, tooDeep(p.peek().off)
	}
	return p.binary([]string{"||"}, p.and)
}

func (p *exprParser) and() (node, *textError) { return p.binary([]string{"&&"}, p.eq) }

func (p *exprParser) eq() (node, *textError) { return p.binary([]string{"==", "!="}, p.cmp) }

func (p *exprParser) cmp() (node, *textError) {
	return p.binary([]string{"<", "<=", ">", ">="}, p.unary)
}

func (p *exprParser) unary() (node, *textError) {
	if t := p.peek(); t.kind == tokOp && t.text == "!" {
		p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > 100 {
			return nil, tooDeep(t.off)
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &notNode{x: x}, nil
	}
	return p.primary()
}

func (p *exprParser) primary() (node, *textError) {
	t := p.next()
	switch t.kind {
	case tokLit:
		return &litNode{v: t.val}, nil
	case tokRef:
		r, err := parseRef(t.text, t.off)
		if err != nil {
			return nil, err
		}
		return &refNode{r: r}, nil
	case tokOpen:
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		want := ")"
		if t.text == "${{" {
			want = "}}"
		}
		c := p.next()
		if c.kind != tokClose || c.text != want {
			if t.text == "${{" {
				return nil, &textError{off: t.off, msg: "unterminated ${{ (no closing }})"}
			}
			return nil, &textError{off: c.off, msg: fmt.Sprintf("expected %q, found %s", want, c.describe())}
		}
		return x, nil
	}
	return nil, &textError{off: t.off, msg: fmt.Sprintf("expected a value, found %s", t.describe())}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// exprRefs lists the references of n, in order.
func exprRefs(n node) []ref {
	switch n := n.(type) {
	case *refNode:
		return []ref{n.r}
	case *notNode:
		return exprRefs(n.x)
	case *binNode:
		return append(exprRefs(n.l), exprRefs(n.r)...)
	}
	return nil
}

// isLiteralTrue reports whether n is the literal true.
func isLiteralTrue(n node) bool {
	l, ok := n.(*litNode)
	return ok && l.v == true
}

// eval computes n over s. Values are JSON values: nil, bool, json.Number
// (compared exactly), string, []any, map[string]any.
func eval(n node, s Scope) (any, error) {
	switch n := n.(type) {
	case *litNode:
		return n.v, nil
	case *refNode:
		raw, err := lookup(n.r, s)
		if err != nil {
			return nil, err
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", n.r, err)
		}
		return v, nil
	case *notNode:
		v, err := eval(n.x, s)
		if err != nil {
			return nil, err
		}
		b, err := condition(n.x, v)
		return !b, err
	case *binNode:
		l, err := eval(n.l, s)
		if err != nil {
			return nil, err
		}
		switch n.op {
		case "&&", "||":
			lb, err := condition(n.l, l)
			if err != nil || lb == (n.op == "||") {
				return lb, err
			}
			r, err := eval(n.r, s)
			if err != nil {
				return nil, err
			}
			return condition(n.r, r)
		}
		r, err := eval(n.r, s)
		if err != nil {
			return nil, err
		}
		switch n.op {
		case "==":
			return jsonEqual(l, r), nil
		case "!=":
			return !jsonEqual(l, r), nil
		}
		c, err := compare(l, r, n.op)
		if err != nil {
			return nil, err
		}
		switch n.op {
		case "<":
			return c < 0, nil
		case "<=":
			return c <= 0, nil
		case ">":
			return c > 0, nil
		default:
			return c >= 0, nil
		}
	}
	return nil, fmt.Errorf("unknown expression node %T", n)
}

func compare(l, r any, op string) (int, error) {
	switch l := l.(type) {
	case json.Number:
		if r, ok := r.(json.Number); ok {
			return numCmp(l, r), nil
		}
	case string:
		if r, ok := r.(string); ok {
			return strings.Compare(l, r), nil
		}
	}
	return 0, fmt.Errorf("cannot compare %s %s %s: both sides must be numbers or both strings",
		jsonKind(l), op, jsonKind(r))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "list"
	}
	return "map"
}

// condition is v, the value of operand n where a condition is wanted
// (a whole when:, a side of && or ||, what ! negates), as a boolean. Any
// other value — the string "false", 0, "", null, a list — is an error
// naming it: a condition is true or false, never a guess at what a value
// means.
func condition(n node, v any) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	raw, _ := json.Marshal(v)
	what := article(jsonKind(v)) + " " + abbreviate(raw)
	if v == nil {
		what = "null"
	}
	how := " == 'true'"
	switch v.(type) {
	case json.Number:
		how = " != 0"
	case string:
	default:
		how = " == ..., with a value of its kind"
	}
	return false, fmt.Errorf("%s is %s, not true or false: a condition must be a boolean: compare it, as in %s%s",
		formatExpr(n), what, formatOperand(n), how)
}

// formatExpr spells n in one way: references as ${{ ... }}, strings in
// single quotes, numbers in Go's shortest form, single spaces around
// operators, and parentheses around every operand that is itself a binary
// expression. It parses back to the same tree, so formatting is stable.
func formatExpr(n node) string {
	switch n := n.(type) {
	case *litNode:
		switch v := n.v.(type) {
		case nil:
			return "null"
		case bool:
			return strconv.FormatBool(v)
		case json.Number:
			return string(v)
		case string:
			return "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
	case *refNode:
		return "${{ " + n.r.String() + " }}"
	case *notNode:
		return "!" + formatOperand(n.x)
	case *binNode:
		return formatOperand(n.l) + " " + n.op + " " + formatOperand(n.r)
	}
	panic(fmt.Sprintf("workflows: formatExpr: unexpected node %T", n))
}

func formatOperand(n node) string {
	if _, ok := n.(*binNode); ok {
		return "(" + formatExpr(n) + ")"
	}
	return formatExpr(n)
}
