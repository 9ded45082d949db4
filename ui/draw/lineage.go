package draw

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage"
)

// LineageOptions say where the nodes of a lineage graph link to.
type LineageOptions struct {
	// AttemptHref and ArtifactHref return the link of a node; nil or "":
	// the node is no link.
	AttemptHref  func(a *lineage.Attempt) string
	ArtifactHref func(a *lineage.Artifact) string
}

// lineageGraph is a lineage graph as LayoutDAG reads one: attempts
// ("a:" + RUN/TASK#N) and artifacts ("d:" + digest) as nodes, data flowing
// from an input to the attempt that read it and from an attempt to what
// it wrote.
type lineageGraph struct {
	ids []string
	up  map[string][]string
}

func (g *lineageGraph) TaskIDs() []string           { return g.ids }
func (g *lineageGraph) Upstream(id string) []string { return g.up[id] }

func newLineageGraph(g *lineage.Graph) *lineageGraph {
	lg := &lineageGraph{up: map[string][]string{}}
	// Upstreams first, as far as levels tell: the farthest attempts
	// upstream (or the root, downstream) first.
	atts := append([]*lineage.Attempt(nil), g.Attempts...)
	sort.SliceStable(atts, func(i, j int) bool {
		if g.Direction == lineage.Upstream {
			return atts[i].Level > atts[j].Level
		}
		return atts[i].Level < atts[j].Level
	})
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			lg.ids = append(lg.ids, id)
		}
	}
	for _, a := range atts {
		for _, p := range sortedKeys(a.Inputs) {
			add("d:" + a.Inputs[p])
			lg.up["a:"+a.ID] = append(lg.up["a:"+a.ID], "d:"+a.Inputs[p])
		}
		add("a:" + a.ID)
		for _, p := range sortedKeys(a.Outputs) {
			add("d:" + a.Outputs[p])
			lg.up["d:"+a.Outputs[p]] = append(lg.up["d:"+a.Outputs[p]], "a:"+a.ID)
		}
	}
	for _, d := range g.Artifacts {
		add("d:" + d.Digest)
	}
	return lg
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Lineage writes a lineage graph as an SVG element: attempts as boxes
// coloured by their state, artifacts as rounded boxes (short digest,
// media type, size, the model versions registered from them), the root
// drawn thicker, each a link when opts gives one, with the attributes
// data-attempt or data-digest; edges from inputs to attempts and from
// attempts to outputs, each titled with its port. The bytes depend only
// on g.
func Lineage(w io.Writer, g *lineage.Graph, opts LineageOptions) error {
	lg := newLineageGraph(g)
	lay := LayoutDAG(lg, nil)
	atts := map[string]*lineage.Attempt{}
	for _, a := range g.Attempts {
		atts["a:"+a.ID] = a
	}
	arts := map[string]*lineage.Artifact{}
	for _, a := range g.Artifacts {
		arts["d:"+a.Digest] = a
	}
	port := func(from, to string) string {
		if a := atts[to]; a != nil {
			for _, p := range sortedKeys(a.Inputs) {
				if "d:"+a.Inputs[p] == from {
					return p
				}
			}
		}
		if a := atts[from]; a != nil {
			for _, p := range sortedKeys(a.Outputs) {
				if "d:"+a.Outputs[p] == to {
					return p
				}
			}
		}
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="lineage" viewBox="0 0 %s %s" width="%s" height="%s" font-family="sans-serif" font-size="12" role="img" aria-label="lineage graph">`+"\n",
		num(lay.Width), num(lay.Height), num(lay.Width), num(lay.Height))
	b.WriteString(`<g class="edges" fill="none" stroke="#8a8a8a" stroke-width="1.3">` + "\n")
	for _, e := range lay.Edges {
		p := e.Points
		fmt.Fprintf(&b, `<path class="edge" data-from="%s" data-to="%s" d="M%s,%s`, esc(e.From), esc(e.To), num(p[0][0]), num(p[0][1]))
		for i := 1; i < len(p); i++ {
			x0, y0, x1, y1 := p[i-1][0], p[i-1][1], p[i][0], p[i][1]
			if y0 == y1 || (i%2 == 0 && len(p) > 2) {
				fmt.Fprintf(&b, " L%s,%s", num(x1), num(y1))
				continue
			}
			dx := (x1 - x0) / 2
			fmt.Fprintf(&b, " C%s,%s %s,%s %s,%s", num(x0+dx), num(y0), num(x1-dx), num(y1), num(x1), num(y1))
		}
		fmt.Fprintf(&b, `"><title>%s</title></path>`+"\n", esc(port(e.From, e.To)))
		end := p[len(p)-1]
		fmt.Fprintf(&b, `<path d="M%s,%s L%s,%s L%s,%s Z" fill="#8a8a8a" stroke="none"/>`+"\n",
			num(end[0]-7), num(end[1]-4), num(end[0]), num(end[1]), num(end[0]-7), num(end[1]+4))
	}
	b.WriteString("</g>\n")
	for _, n := range lay.Nodes {
		width := "1.6"
		if a := atts[n.ID]; a != nil {
			if a.ID == g.Root.Attempt {
				width = "3.2"
			}
			st := StyleOf(cairn.TaskState(a.State))
			href := ""
			if opts.AttemptHref != nil {
				href = opts.AttemptHref(a)
			}
			open, close := nodeTag(href)
			fmt.Fprintf(&b, `%s class="node lineage-attempt" data-attempt="%s" data-state="%s">`, open, esc(a.ID), esc(a.State))
			title := a.ID + " (" + a.Type
			if a.Version != "" {
				title += " " + a.Version
			}
			title += "): " + a.State
			if a.CachedFrom != "" {
				title += ", outputs reused from " + a.CachedFrom
			}
			fmt.Fprintf(&b, "<title>%s</title>\n", esc(title))
			dash := ""
			if st.Dashed || a.CachedFrom != "" {
				dash = ` stroke-dasharray="5 3"`
			}
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" rx="5" fill="%s" stroke="%s" stroke-width="%s"%s/>`+"\n",
				num(n.X), num(n.Y), num(n.W), num(n.H), st.Fill, st.Stroke, width, dash)
			b.WriteString(marker(st.Marker, n.X+14, n.Y+n.H/2, st.Stroke))
			fmt.Fprintf(&b, "\n"+`<text x="%s" y="%s" font-weight="bold" fill="#1a1a1a">%s</text>`+"\n", num(n.X+27), num(n.Y+17),
				esc(clipText(fmt.Sprintf("%s#%d", a.Task, a.Number), labelRunes)))
			fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="10" fill="#333333">%s</text>`+"\n", num(n.X+27), num(n.Y+31),
				esc(clipText(a.Type+" · "+a.Run, 30)))
			b.WriteString(close + "\n")
			continue
		}
		d := arts[n.ID]
		if d == nil {
			d = &lineage.Artifact{Digest: strings.TrimPrefix(n.ID, "d:")}
		}
		if d.Digest == g.Root.Artifact {
			width = "3.2"
		}
		href := ""
		if opts.ArtifactHref != nil {
			href = opts.ArtifactHref(d)
		}
		open, close := nodeTag(href)
		fmt.Fprintf(&b, `%s class="node lineage-artifact" data-digest="%s">`, open, esc(d.Digest))
		title := d.Digest + " (" + lineage.FormatSize(d.Size)
		if d.MediaType != "" {
			title += ", " + d.MediaType
		}
		title += ")"
		for _, m := range d.Models {
			title += "; " + m.Ref + " " + m.Stage
		}
		fmt.Fprintf(&b, "<title>%s</title>\n", esc(title))
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" rx="16" fill="#e8f1fa" stroke="#0072b2" stroke-width="%s"/>`+"\n",
			num(n.X), num(n.Y), num(n.W), num(n.H), width)
		label := lineage.Short(d.Digest)[7:]
		if len(d.Models) > 0 {
			label = d.Models[len(d.Models)-1].Ref
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-weight="bold" fill="#1a1a1a">%s</text>`+"\n", num(n.X+12), num(n.Y+17), esc(clipText(label, 26)))
		sub := lineage.FormatSize(d.Size)
		if d.MediaType != "" {
			sub = d.MediaType + " · " + sub
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="10" fill="#333333">%s</text>`+"\n", num(n.X+12), num(n.Y+31), esc(clipText(sub, 32)))
		b.WriteString(close + "\n")
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// nodeTag opens and closes a node: a link when href is set.
func nodeTag(href string) (string, string) {
	if href == "" {
		return "<g", "</g>"
	}
	return `<a href="` + esc(href) + `"`, "</a>"
}
