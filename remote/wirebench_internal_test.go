package remote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// hotWire is a complete-many request of n reports of noop tasks and its
// reply, each report answered with one item, as on a fan.
func hotWire(n int) (completeManyRequest, completeManyReply) {
	var req completeManyRequest
	var rep completeManyReply
	exp := time.Date(2026, 12, 4, 19, 50, 1, 123456789, time.UTC)
	for i := range n {
		l := wireLease{RunID: "01m9196nnm02xjmn", TaskID: fmt.Sprintf("t%d", i), Attempt: 1, Token: cairn.NewToken(), Worker: "w-01m9196nnm02xjmn", ExpiresAt: exp}
		req.Reports = append(req.Reports, completeRequest{Lease: l, Next: 1, Start: true})
		l.TaskID = fmt.Sprintf("t%d", i+100)
		rep.Results = append(rep.Results, completeResult{Items: []wireItem{{Lease: l, Type: "noop", Params: json.RawMessage(`{}`), Started: true}}})
	}
	return req, rep
}

// BenchmarkHotWire: complete-many's request and answer of 8 reports of
// noop tasks, encoded and decoded as the worker and the server do, and
// decoded by encoding/json alone for comparison.
func BenchmarkHotWire(b *testing.B) {
	req, rep := hotWire(8)
	reqB, _ := json.Marshal(req)
	repB, _ := json.Marshal(rep)
	b.Logf("request %d bytes, reply %d bytes", len(reqB), len(repB))
	b.Run("encode-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := req.appendFast(make([]byte, 0, 4096)); !ok {
				b.Fatal("not written by hand")
			}
		}
	})
	b.Run("encode-request-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(req)
		}
	})
	b.Run("decode-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v completeManyRequest
			if err := decodeJSON(bytes.NewReader(reqB), int64(len(reqB)), &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-request-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v completeManyRequest
			json.NewDecoder(bytes.NewReader(reqB)).Decode(&v)
		}
	})
	b.Run("encode-reply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := rep.appendFast(make([]byte, 0, 4096)); !ok {
				b.Fatal("not written by hand")
			}
		}
	})
	b.Run("encode-reply-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			json.NewEncoder(&buf).Encode(rep)
		}
	})
	b.Run("decode-reply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v completeManyReply
			if err := decodeJSON(bytes.NewReader(repB), int64(len(repB)), &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-reply-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v completeManyReply
			json.NewDecoder(bytes.NewReader(repB)).Decode(&v)
		}
	})
}
