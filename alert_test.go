package cairn_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

func TestRedactWebhookParams(t *testing.T) {
	in := json.RawMessage(`{"name":"churn","alerts":[{"on":"p99_latency_above","bound":"50ms","webhook":"https://hooks.example.com/services/T0/B0/SECRETXYZ"}],"n":1.50}`)
	got := string(cairn.RedactWebhookParams(in))
	if strings.Contains(got, "SECRETXYZ") || !strings.Contains(got, `"webhook":"https://hooks.example.com/services/…"`) || !strings.Contains(got, `"n":1.50`) {
		t.Fatalf("redacted params: %s", got)
	}
	plain := json.RawMessage(`{"script": "echo <b>"}`)
	if got := cairn.RedactWebhookParams(plain); string(got) != string(plain) {
		t.Fatalf("params without a webhook changed: %s", got)
	}
}

// A webhook refused is shown cut, as everywhere else: one that is not an
// http(s) URL, has no host or does not parse may still hold its secret,
// and the refusal goes where the webhook would not (the workflows page's
// problems of a file, a log).
func TestCheckWebhookShowsItCut(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://hooks.example.com/cairn", ""},
		{"htps://hooks.slack.com/services/T0/B0/SECRET", `webhook "htps://hooks.slack.com/services/…" is not an http or https URL`},
		{"hooks.slack.com/services/T0/B0/SECRET", `webhook "hooks.slack.com/services/…" is not an http or https URL`},
		{"https:///services/T0/B0/SECRET", `webhook "https:///services/…" has no host`},
		{"hooks.example.com/x", `webhook "hooks.example.com/x" is not an http or https URL`},
		{"mailto:ops?body=SECRET", `webhook "mailto:ops?…" is not an http or https URL`},
		{"https://hooks.slack.com/services/T0/B0/SECRET\n", `webhook "https://hooks.slack.com/services/…" is not a URL: net/url: invalid control character in URL`},
		{"https://u:SECRET@hooks.example.com/x", `webhook "https://hooks.example.com/x" has a user or password in it`},
		{"ftp://h.example/x", `webhook "ftp://h.example/x" is not an http or https URL`},
		{"javascript:alert(1)", `webhook "javascript:alert(1)" is not an http or https URL`},
		{"http://", `webhook "http://" has no host`},
	} {
		err := cairn.CheckWebhook(tc.in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%q: %v, want %s", tc.in, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "SECRET"):
			t.Errorf("%q: the refusal shows the secret: %v", tc.in, err)
		}
	}
}
