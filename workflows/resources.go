package workflows

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
)

// resourceKeys are the keys of a task's `resources:`.
var resourceKeys = []string{"cpu", "memory"}

const memoryHint = `write an amount with a unit, e.g. memory: 2GiB (KiB, MiB, GiB, TiB; KB, MB, GB, TB in powers of 1000) or a number of bytes`

// resources reads a task's `resources: {cpu: 1.5, memory: 2GiB}`.
func (p *parser) resources(tn *taskNodes, n *yaml.Node) {
	kvs, ok := p.mapping(n, "resources")
	if !ok {
		return
	}
	p.unknownKeys(kvs, resourceKeys)
	r := &cairn.Resources{}
	before := len(p.errs)
	for _, kv := range kvs {
		v := deref(kv.v)
		switch kv.key {
		case "cpu":
			if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
				p.errorf(v, "write a number of cores, e.g. cpu: 1.5 (or 0.5 for half a core)", "resources cpu must be a number of cores, not %s", describe(v))
				continue
			}
			f, ok := p.number(v, "resources cpu")
			if !ok {
				continue
			}
			if f < cairn.MinCPU || f > cairn.MaxCPU {
				p.errorf(v, fmt.Sprintf("cpu is in cores, from %g (1 ms of every 100 ms) to %d", cairn.MinCPU, cairn.MaxCPU),
					"resources cpu must be between %g and %d, not %v", cairn.MinCPU, cairn.MaxCPU, f)
				continue
			}
			r.CPU = f
		case "memory":
			if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!str" && v.ShortTag() != "!!int") {
				p.errorf(v, memoryHint, "resources memory must be an amount of memory, not %s", describe(v))
				continue
			}
			if strings.Contains(v.Value, "${{") {
				p.errorf(v, memoryHint, "resources memory cannot hold a reference: the limit is the task's, the same for every run")
				continue
			}
			b, err := cairn.ParseMemory(v.Value)
			if err != nil {
				p.errorf(v, memoryHint, "resources memory: %v", err)
				continue
			}
			if b < cairn.MinMemory {
				p.errorf(v, "a process needs more than that to start", "resources memory must be at least %s, not %s", cairn.FormatMemory(cairn.MinMemory), v.Value)
				continue
			}
			r.Memory = b
		}
	}
	if *r == (cairn.Resources{}) {
		if len(p.errs) == before {
			p.errorf(n, "give cpu, memory or both, e.g. resources: {cpu: 1, memory: 2GiB}; or leave the key out", "resources is empty")
		}
		return
	}
	tn.task.Resources = r
	tn.resourcesAt = posOf(deref(n))
}

// checkResources refuses resources: on a task whose type cannot enforce
// them, and a `with: {resources: ...}` written by hand on one that can.
func (p *parser) checkResources(tn *taskNodes, info cairn.TypeInfo) {
	t := tn.task
	if t.Resources != nil && !info.Resources {
		p.errorAt(tn.resourcesAt, "resources are enforced for shell tasks (their processes run in a cgroup of their own); run the work as a shell task, or drop resources:",
			"task %q: type %q cannot enforce resources (it runs inside cairn's own process)", t.ID, t.Type)
	}
	if kv, ok := tn.withEntry("resources"); ok && info.Resources {
		p.errorf(kv.k, "move it up: resources: {cpu: ..., memory: ...} is a key of the task, beside with:",
			"with.resources is set by the task's resources:, not under with:")
	}
}
