package ui

import (
	"encoding/json"
	"strings"
	"testing"
)

// A JSON body is one object of the route's shape: what follows it is
// refused as a typo would be (it was ignored), a value of the wrong JSON
// type is named in the API's words (not Go's), and a body over the limit
// says what the limit is.
func TestJSONBodyRefusals(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxBodyBytes = 1000 })
	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"params": {}}`, 501, "read-only"}, // the body is fine: this server has no Actions
		{`{"params": {}} {"params": {"n": 1}}`, 400, "more than one JSON value"},
		{`{"params": {}}x`, 400, "more than one JSON value"},
		{`[1]`, 400, "the request body is a JSON array, want an object"},
		{`{"params": [1]}`, 400, `"params" is a JSON array, want an object`},
		{`{"params": {"n": 1}`, 400, "not valid JSON"},
		{`{"parms": {}}`, 400, `unknown key "parms"`},
		// encoding/json keeps the last of a key given twice and reads half
		// a surrogate pair as U+FFFD, in silence (found by the trial).
		{`{"params": {"seed": 1}, "params": {"seed": 2}}`, 400, `key "params" given twice`},
		{`{"params": {"seed": 1, "seed": 2}}`, 400, `params: key "seed" given twice`},
		{`{"params": {"data": "\ud800"}}`, 400, `\ud800 at byte 21 is half of a UTF-16 surrogate pair`},
		{`{"params": {"data": "\ud83d\ude00"}}`, 501, "read-only"}, // a whole pair is a character
		{`{"params": {"x": "` + strings.Repeat("a", 2000) + `"}}`, 413, "over the server's limit of 1000 bytes"},
	} {
		resp, body := f.do(t, "POST", "/api/v1/workflows/w/runs", strings.NewReader(c.body), "Content-Type", "application/json")
		var e apiError
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("%.40s: %v\n%s", c.body, err, body)
		}
		got := e.Message
		if resp.StatusCode != c.status || !strings.Contains(got, c.want) || strings.Contains(got, "Go value") || strings.Contains(got, "struct {") {
			t.Errorf("%.40s: %d, want %d and %q:\n%s", c.body, resp.StatusCode, c.status, c.want, got)
		}
	}
}
