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
