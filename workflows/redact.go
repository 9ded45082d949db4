package workflows

import (
	"bytes"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
)

// RedactWebhooks is a workflow file's text as a page shows it: each
// webhook: value (a workflow's notify:, a deploy's alerts:), wherever it
// is written (an anchor's value included), cut to its scheme, host and
// first path segment as everything else that shows a webhook cuts it
// (cairn.RedactWebhook), since a webhook's URL is often its credential;
// the rest of the text as it is. A file that does not parse, or whose
// webhook is not written as its value reads, has every line that holds
// "webhook" cut after the key.
func RedactWebhooks(src []byte) []byte {
	if !bytes.Contains(src, []byte("webhook")) {
		return src
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return redactLines(src)
	}
	seen := map[string]bool{}
	var urls []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.AliasNode && v.Alias != nil {
					v = v.Alias
				}
				if k.Value == "webhook" && v.Kind == yaml.ScalarNode && v.Value != "" && !seen[v.Value] {
					seen[v.Value] = true
					urls = append(urls, v.Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	// Longest first: a URL that is a prefix of another is cut after it.
	sort.Slice(urls, func(i, j int) bool { return len(urls[i]) > len(urls[j]) })
	out := src
	for _, u := range urls {
		if !bytes.Contains(out, []byte(u)) {
			return redactLines(src) // written otherwise (escapes, folded): cut the lines
		}
		out = bytes.ReplaceAll(out, []byte(u), []byte(cairn.RedactWebhook(u)))
	}
	return out
}

// redactLines cuts every line holding "webhook" after its first colon
// past the word.
func redactLines(src []byte) []byte {
	lines := bytes.SplitAfter(src, []byte("\n"))
	for i, l := range lines {
		k := bytes.Index(l, []byte("webhook"))
		if k < 0 {
			continue
		}
		c := bytes.IndexByte(l[k:], ':')
		if c < 0 {
			continue
		}
		nl := ""
		if bytes.HasSuffix(l, []byte("\n")) {
			nl = "\n"
		}
		lines[i] = append(append([]byte{}, l[:k+c+1]...), []byte(" (a webhook, not shown)"+nl)...)
	}
	return bytes.Join(lines, nil)
}
