package workflows

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
)

// notifyKeys are the keys of one notify: entry.
var notifyKeys = []string{"on", "webhook", "format"}

// maxNotify bounds the entries of notify:.
const maxNotify = 32

const notifyHint = `each entry is {on: failure|success|gate_failed|drift (or a list of them), webhook: https://..., format: json|slack}`

// notify reads the top-level `notify:`, a list of targets (issue #22).
func (p *parser) notify(n *yaml.Node) []cairn.NotifyTarget {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, notifyHint, "notify must be a list, not %s", describe(n))
		return nil
	}
	if len(n.Content) > maxNotify {
		p.errorf(n, "send one webhook to a service that fans out", "notify has %d entries, more than %d", len(n.Content), maxNotify)
		return nil
	}
	var out []cairn.NotifyTarget
	for _, e := range n.Content {
		kvs, ok := p.mapping(e, "a notify entry")
		if !ok {
			continue
		}
		p.unknownKeys(kvs, notifyKeys)
		t := cairn.NotifyTarget{Format: cairn.AlertJSON}
		var onNode, hookNode *yaml.Node
		good := true
		for _, kv := range kvs {
			switch kv.key {
			case "on":
				onNode = kv.v
				t.On, ok = p.notifyEvents(kv.v)
				good = good && ok
			case "webhook":
				hookNode = kv.v
				s, ok := p.str(kv.v, "webhook")
				if !ok {
					good = false
					break
				}
				s = strings.TrimSpace(s)
				if strings.Contains(s, "${{") {
					p.errorf(kv.v, "write the URL itself: a webhook is the workflow's, the same for every run",
						"webhook cannot hold a reference")
					good = false
					break
				}
				if err := cairn.CheckWebhook(s); err != nil {
					p.errorf(kv.v, `write an http or https URL, e.g. "webhook: https://hooks.example.com/cairn"`, "%v", err)
					good = false
					break
				}
				t.Webhook = s
			case "format":
				s, ok := p.str(kv.v, "format")
				if !ok {
					good = false
					break
				}
				switch s {
				case cairn.AlertJSON, cairn.AlertSlack:
					t.Format = s
				default:
					hint := "use json (Cairn's body) or slack (a Slack incoming webhook's {\"text\": ...})"
					if h := didYouMean(s, []string{cairn.AlertJSON, cairn.AlertSlack}); h != "" {
						hint = h + "; " + hint
					}
					p.errorf(kv.v, hint, "unknown notify format %q", s)
					good = false
				}
			}
		}
		if onNode == nil {
			p.errorf(e, `add on:, e.g. "on: failure" or "on: [failure, gate_failed]"`, "notify entry is missing %q", "on")
			good = false
		}
		if hookNode == nil {
			p.errorf(e, `add webhook:, e.g. "webhook: https://hooks.example.com/cairn"`, "notify entry is missing %q", "webhook")
			good = false
		}
		if good {
			out = append(out, t)
		}
	}
	return out
}

// notifyEvents reads on: one event or a list of them, each once.
func (p *parser) notifyEvents(n *yaml.Node) ([]cairn.AlertEvent, bool) {
	n = deref(n)
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			p.errorf(n, notifyHint, "on is an empty list: name at least one event")
			return nil, false
		}
	}
	names := make([]string, len(cairn.AlertEvents))
	for i, e := range cairn.AlertEvents {
		names[i] = string(e)
	}
	var out []cairn.AlertEvent
	ok := true
	for _, it := range items {
		s, good := p.str(it, "an event of on")
		if !good {
			ok = false
			continue
		}
		e := cairn.AlertEvent(s)
		if !e.Valid() {
			hint := "events: " + strings.Join(names, ", ")
			if h := didYouMean(s, names); h != "" {
				hint = h + "; " + hint
			}
			p.errorf(it, hint, "unknown notify event %q", s)
			ok = false
			continue
		}
		dup := false
		for _, x := range out {
			dup = dup || x == e
		}
		if dup {
			p.errorf(it, "name each event once", "event %q is named twice", s)
			ok = false
			continue
		}
		out = append(out, e)
	}
	return out, ok
}

// writeNotify writes the targets in the canonical form: each entry's
// keys sorted, its events in the order written.
func writeNotify(c *canonWriter, ts []cairn.NotifyTarget) {
	c.key("notify")
	c.open('[')
	for _, t := range ts {
		c.open('{')
		c.key("format")
		c.str(t.Format)
		c.key("on")
		c.open('[')
		for _, e := range t.On {
			c.str(string(e))
		}
		c.close(']')
		c.key("webhook")
		c.str(t.Webhook)
		c.close('}')
	}
	c.close(']')
}
