package lineage

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteJSON writes g as indented JSON: the shape of Graph.
func WriteJSON(w io.Writer, g *Graph) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(g)
}

// index is a graph's nodes by key.
type index struct {
	g         *Graph
	attempts  map[string]*Attempt
	artifacts map[string]*Artifact
	readers   map[string][]*Attempt // digest → the attempts of g that read it
}

func newIndex(g *Graph) *index {
	x := &index{g: g, attempts: map[string]*Attempt{}, artifacts: map[string]*Artifact{}, readers: map[string][]*Attempt{}}
	for _, a := range g.Attempts {
		x.attempts[a.ID] = a
		for _, d := range a.Inputs {
			x.readers[d] = append(x.readers[d], a)
		}
	}
	for _, a := range g.Artifacts {
		x.artifacts[a.Digest] = a
	}
	for _, rs := range x.readers {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	}
	return x
}

func sortedPorts(m map[string]string) []string {
	ports := make([]string, 0, len(m))
	for p := range m {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	return ports
}

// MaxTextLevels is how deep WriteText indents before it goes on at the
// left margin.
const MaxTextLevels = 64

// WriteText writes g as a tree, as tree(1) draws folders: upstream, an
// artifact's child is the attempt that first wrote it and an attempt's
// children are its inputs; downstream, an artifact's children are the
// attempts that read it and an attempt's are its outputs. A node met a
// second time is named, not drawn again.
func WriteText(w io.Writer, g *Graph) error {
	x := newIndex(g)
	bw := bufio.NewWriter(w)
	shown := map[string]bool{}
	var attempt func(a *Attempt, label, prefix, branch string)
	var artifact func(d, label, prefix, branch string)
	line := func(prefix, branch, text string) {
		bw.WriteString(prefix + branch + printable(text) + "\n")
	}
	// childPrefix is the prefix of a node's children. Past MaxTextLevels
	// levels the tree goes on at the left margin, under a line naming
	// the node whose children follow: a chain of thousands of steps
	// would otherwise print, on each of its lines, a prefix as long as
	// the chain (output quadratic in its length).
	childPrefix := func(prefix, branch, name string, kids bool) string {
		switch branch {
		case "├── ":
			prefix += "│   "
		case "└── ":
			prefix += "    "
		}
		if kids && utf8.RuneCountInString(prefix) > 4*MaxTextLevels {
			bw.WriteString("⋯ deeper than " + strconv.Itoa(MaxTextLevels) + " levels: " + printable(name) + "'s tree goes on at the margin\n")
			return ""
		}
		return prefix
	}
	artifact = func(d, label, prefix, branch string) {
		a := x.artifacts[d]
		if a == nil {
			a = &Artifact{Digest: d}
		}
		text := x.artifactText(a, label)
		if shown["d"+d] {
			line(prefix, branch, text+"  (shown above)")
			return
		}
		shown["d"+d] = true
		line(prefix, branch, text)
		var kids []*Attempt
		cut := ""
		if g.Direction == Upstream {
			if a.Producer != "" {
				if p := x.attempts[a.Producer]; p != nil {
					kids = append(kids, p)
				} else {
					cut = "… " + a.Producer + " (past --depth)"
				}
			}
		} else {
			kids = x.readers[d]
			if len(kids) == 0 && g.Truncated && !x.leaf(d) {
				cut = "… (past --depth)"
			}
		}
		p := childPrefix(prefix, branch, Short(d), cut != "" || len(kids) > 0)
		if cut != "" {
			line(p, "└── ", cut)
		}
		for i, k := range kids {
			b := "├── "
			if i == len(kids)-1 {
				b = "└── "
			}
			lbl := ""
			if g.Direction == Upstream {
				for _, port := range sortedPorts(k.Outputs) {
					if k.Outputs[port] == d {
						lbl = "wrote it as " + port
						break
					}
				}
			} else {
				for _, port := range sortedPorts(k.Inputs) {
					if k.Inputs[port] == d {
						lbl = "read it as " + port
						break
					}
				}
			}
			attempt(k, lbl, p, b)
		}
	}
	attempt = func(a *Attempt, label, prefix, branch string) {
		text := x.attemptText(a, label)
		if shown["a"+a.ID] {
			line(prefix, branch, text+"  (shown above)")
			return
		}
		shown["a"+a.ID] = true
		line(prefix, branch, text)
		ports := a.Inputs
		if g.Direction == Downstream {
			ports = a.Outputs
		}
		names := sortedPorts(ports)
		p := childPrefix(prefix, branch, a.ID, len(names) > 0)
		for i, port := range names {
			b := "├── "
			if i == len(names)-1 {
				b = "└── "
			}
			artifact(ports[port], port, p, b)
		}
	}
	if g.Root.Attempt != "" {
		if a := x.attempts[g.Root.Attempt]; a != nil {
			attempt(a, "", "", "")
		}
	} else {
		artifact(g.Root.Artifact, "", "", "")
	}
	if g.Truncated {
		fmt.Fprintf(bw, "(cut at --depth %d)\n", g.Depth)
	}
	return bw.Flush()
}

// leaf reports whether no attempt of the graph wrote or read d beyond
// the root: downstream, an artifact nothing read.
func (x *index) leaf(d string) bool { return len(x.readers[d]) == 0 }

func (x *index) artifactText(a *Artifact, port string) string {
	var b strings.Builder
	if port != "" {
		b.WriteString(port + "  ")
	}
	b.WriteString(Short(a.Digest))
	if a.MediaType != "" || a.Size > 0 {
		fmt.Fprintf(&b, "  %s", FormatSize(a.Size))
	}
	if a.MediaType != "" {
		b.WriteString("  " + a.MediaType)
	}
	for _, m := range a.Models {
		fmt.Fprintf(&b, "  [%s %s]", m.Ref, m.Stage)
	}
	if a.WriterCount > 1 {
		n := a.WriterCount - 1
		fmt.Fprintf(&b, "  (also written by %d other attempt%s", n, plural(n))
		var others []string
		for _, w := range a.Writers {
			if w != a.Producer {
				others = append(others, w)
			}
		}
		if len(others) > 0 {
			b.WriteString(": " + strings.Join(others, ", "))
			if len(others) < n {
				b.WriteString(", …")
			}
		}
		b.WriteString(")")
	}
	return b.String()
}

func (x *index) attemptText(a *Attempt, label string) string {
	var b strings.Builder
	b.WriteString(a.ID + "  " + a.Type)
	if a.Version != "" {
		b.WriteString(" " + a.Version)
	}
	b.WriteString("  " + a.State)
	if label != "" {
		b.WriteString("  " + label)
	}
	if a.CachedFrom != "" {
		b.WriteString("  (cache: outputs of " + a.CachedFrom + ")")
	}
	if a.Error != "" {
		msg, _, _ := strings.Cut(a.Error, "\n")
		if len(msg) > 120 {
			msg = msg[:117] + "..."
		}
		b.WriteString("  error: " + msg)
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WriteDot writes g as a Graphviz digraph: attempts as boxes, artifacts
// as notes, an edge from each input to the attempt that read it and from
// each attempt to its outputs, labelled with the port.
func WriteDot(w io.Writer, g *Graph) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "digraph lineage {\n    rankdir=LR;\n    node [fontname=\"Helvetica\", fontsize=10];\n    edge [fontname=\"Helvetica\", fontsize=9];\n")
	for _, a := range g.Artifacts {
		label := Short(a.Digest) + "\n" + FormatSize(a.Size)
		if a.MediaType != "" {
			label += " " + a.MediaType
		}
		for _, m := range a.Models {
			label += "\n" + m.Ref + " " + m.Stage
		}
		style := ""
		if a.Digest == g.Root.Artifact {
			style = ", penwidth=2"
		}
		fmt.Fprintf(bw, "    %s [shape=note, label=%s%s];\n", dotQuote("d:"+a.Digest), dotQuote(label), style)
	}
	for _, a := range g.Attempts {
		label := a.ID + "\n" + a.Type
		if a.Version != "" {
			label += " " + a.Version
		}
		label += "\n" + a.State
		style := ""
		switch {
		case a.ID == g.Root.Attempt:
			style = ", penwidth=2"
		case a.State != "succeeded":
			style = ", style=dashed"
		}
		fmt.Fprintf(bw, "    %s [shape=box, label=%s%s];\n", dotQuote("a:"+a.ID), dotQuote(label), style)
	}
	for _, a := range g.Attempts {
		for _, port := range sortedPorts(a.Inputs) {
			fmt.Fprintf(bw, "    %s -> %s [label=%s];\n", dotQuote("d:"+a.Inputs[port]), dotQuote("a:"+a.ID), dotQuote(port))
		}
		for _, port := range sortedPorts(a.Outputs) {
			fmt.Fprintf(bw, "    %s -> %s [label=%s];\n", dotQuote("a:"+a.ID), dotQuote("d:"+a.Outputs[port]), dotQuote(port))
		}
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// printable replaces the control characters of s (a terminal's escape
// sequences, say, in an error or a media type a plugin chose) with '?'.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}

// dotQuote quotes s as a DOT string: backslashes and quotes escaped,
// line breaks as \n, other control characters dropped.
func dotQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
