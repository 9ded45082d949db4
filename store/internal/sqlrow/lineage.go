package sqlrow

import (
	"fmt"

	"github.com/cairnml/cairn"
)

// The closure of the lineage graph (a store's LineageClosure), what both
// stores decide the same way around their queries.

// BoundedDepth is the deepest bound a closure query follows level by
// level: a bounded query keeps a row per digest and level, which on a
// cycle is a row per level; past it the whole closure is read (a row per
// digest) and the reader applies the bound.
const BoundedDepth = 64

// MaxLineageAttempts bounds the attempts one closure may reach: past it
// the query is refused, and a bound (a depth) is needed.
const MaxLineageAttempts = 20000

// CheckClosure refuses a closure's direction or depth, and returns the
// depth the query follows (0, no bound, past BoundedDepth).
func CheckClosure(dir string, depth int) (int, error) {
	if dir != cairn.LineageIn && dir != cairn.LineageOut {
		return 0, fmt.Errorf("lineage closure: direction %q is not %q or %q", dir, cairn.LineageIn, cairn.LineageOut)
	}
	if depth < 0 {
		return 0, fmt.Errorf("lineage closure: negative depth %d", depth)
	}
	if depth > BoundedDepth {
		depth = 0
	}
	return depth, nil
}

// TooManyAttempts is the refusal of a closure that reaches n attempts,
// nil when n is within MaxLineageAttempts.
func TooManyAttempts(n int) error {
	if n > MaxLineageAttempts {
		return fmt.Errorf("it reaches %d attempts, more than %d: give a depth to read less", n, MaxLineageAttempts)
	}
	return nil
}

// ClosureDigests is every artifact a closure names: the digests it
// reached, then those its edges name, each once, in that order.
func ClosureDigests(reached []string, edges []cairn.LineageEdge) []string {
	set := make(map[string]bool, len(reached)+len(edges))
	var all []string
	add := func(d string) {
		if !set[d] {
			set[d] = true
			all = append(all, d)
		}
	}
	for _, d := range reached {
		add(d)
	}
	for _, e := range edges {
		add(e.Digest)
	}
	return all
}

// NewLineageGraph is an empty graph, its maps made.
func NewLineageGraph() *cairn.LineageGraph {
	return &cairn.LineageGraph{Writers: map[string][]cairn.AttemptRef{}, WriterCount: map[string]int{}}
}

// Writer decodes digest, run_id, task_id, attempt, n (the writers of
// digest in all) into g.
func Writer(sc Scanner, g *cairn.LineageGraph) error {
	var (
		d         string
		a         cairn.AttemptRef
		number, n int64
	)
	err := sc.Scan(&d, &a.RunID, &a.TaskID, &number, &n)
	a.Number = int(number)
	g.Writers[d] = append(g.Writers[d], a)
	g.WriterCount[d] = int(n)
	return err
}

// The steps of a closure query, both dialects': upstream, an artifact
// leads to the inputs of its first producer (artifacts.run_id, task_id,
// attempt); downstream, to the outputs of every attempt that read it.
const (
	upstreamStep = `SELECT i.digest%s FROM reach r
	JOIN artifacts a ON a.digest = r.digest AND a.run_id != ''
	JOIN lineage i ON i.run_id = a.run_id AND i.task_id = a.task_id AND i.attempt = a.attempt AND i.direction = 'in'`
	downstreamStep = `SELECT o.digest%s FROM reach r
	JOIN lineage i ON i.digest = r.digest AND i.direction = 'in'
	JOIN lineage o ON o.run_id = i.run_id AND o.task_id = i.task_id AND o.attempt = i.attempt AND o.direction = 'out'`
)

// ClosureQuery is the recursive query of a closure in direction dir from
// the digests seeds selects (the dialect's select of its array parameter,
// with a %s where a column may follow the digest), as the digests it
// reaches: with bounded, up to the levels in parameter bound (attempts
// between a digest and a root). UNION keeps each (digest, level) once;
// without a bound the level is left out so that each digest is kept once,
// which ends the recursion even on a cycle (an attempt that wrote the
// bytes it read).
func ClosureQuery(dir string, bounded bool, seeds, bound string) string {
	step := upstreamStep
	if dir == cairn.LineageOut {
		step = downstreamStep
	}
	if bounded {
		return `WITH RECURSIVE reach(digest, level) AS (
	` + fmt.Sprintf(seeds, ", 0") + `
	UNION
	` + fmt.Sprintf(step, ", r.level + 1") + ` WHERE r.level < ` + bound + `
) SELECT DISTINCT digest FROM reach`
	}
	return `WITH RECURSIVE reach(digest) AS (
	` + fmt.Sprintf(seeds, "") + `
	UNION
	` + fmt.Sprintf(step, "") + `
) SELECT digest FROM reach`
}
