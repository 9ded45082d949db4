package sqlrow

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/cairnml/cairn/scheduler"
)

// CheckRetention refuses a negative retention.
func CheckRetention(r scheduler.Retention) error {
	if r.KeepLast < 0 || r.KeepWithin < 0 {
		return fmt.Errorf("needed artifacts: a negative retention (%d runs, %s)", r.KeepLast, r.KeepWithin)
	}
	return nil
}

// ValueDigests returns the artifact digests a task run's inputs or
// outputs (a JSON object, or array, of values) hold: the "digest" of each
// value that is an object, as SQLite's json_each and json_extract read
// them. Text that is not JSON holds none.
func ValueDigests(text []byte) []string {
	var values []json.RawMessage
	var obj map[string]json.RawMessage
	switch t := bytes.TrimLeft(text, " \t\r\n"); {
	case len(t) > 0 && t[0] == '{':
		if json.Unmarshal(text, &obj) != nil {
			return nil
		}
		for _, v := range obj {
			values = append(values, v)
		}
	case len(t) > 0 && t[0] == '[':
		if json.Unmarshal(text, &values) != nil {
			return nil
		}
	default:
		return nil
	}
	var out []string
	for _, v := range values {
		var ref map[string]json.RawMessage
		if len(v) == 0 || v[0] != '{' || json.Unmarshal(v, &ref) != nil {
			continue
		}
		d, ok := ref["digest"]
		if !ok || string(d) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(d, &s) == nil {
			out = append(out, s)
		} else {
			out = append(out, string(d))
		}
	}
	return out
}
