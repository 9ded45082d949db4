package remote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cairnml/cairn/internal/jsoncheck"
)

// BenchmarkStrictSlowPath: what the worker API's strict reading adds to a
// body the hand reading does not take (a completion with number outputs
// and metrics, as an ML task's): encoding/json alone, then with the check
// for keys given twice.
func BenchmarkStrictSlowPath(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"reports":[`)
	for i := range 8 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"lease":{"run_id":"01m9196nnm02xjmn","task_id":"t%d","attempt":1,"token":"0123456789abcdef0123456789abcdef","worker":"w-1"},"completion":{"exit_code":0,"outputs":{"rows":569,"columns":31,"data":{"digest":"sha256:24e220f06a0844385ea0e0f551c2ee1f9725e248e1dd662fafca95e0c7d1a0bf","size":120384,"media_type":"text/csv"}},"metrics":{"accuracy":0.9649,"f1":0.9512,"log_loss":0.1148,"precision":0.975,"recall":0.9286,"roc_auc":0.9964}},"next":1,"start":true}`, i)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.Logf("%d bytes", len(body))
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v completeManyRequest
			if err := json.NewDecoder(bytes.NewReader(body)).Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("strict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v completeManyRequest
			if err := decodeStrict(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check-alone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := jsoncheck.Check(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
