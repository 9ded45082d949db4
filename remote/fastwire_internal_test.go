package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// TestFastWireAsEncodingJSON: complete-many's request and answer are read
// as encoding/json reads them, whether by hand or not: the same value or
// an error alike, for bodies encoding/json wrote from random values
// (strings with escapes and non-ASCII, completions and items of every
// field) and for those bodies changed (white space, keys repeated or in
// other case, values replaced, cut short, bytes after the value). The
// plain bodies a fan's workers send are read by hand.
func TestFastWireAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var fast, total, fastEncoded int
	try := func(name string, b []byte, fresh func() any) {
		t.Helper()
		want, got := fresh(), fresh()
		werr := json.NewDecoder(bytes.NewReader(b)).Decode(want)
		gerr := decodeJSON(bytes.NewReader(b), int64(len(b)), got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: %s\nencoding/json: %v; decodeJSON: %v", name, b, werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("%s: %s\nencoding/json: %#v\ndecodeJSON:    %#v", name, b, want, got)
		}
		if werr != nil && werr.Error() != gerr.Error() {
			t.Fatalf("%s: %s\nencoding/json: %v\ndecodeJSON:    %v", name, b, werr, gerr)
		}
		total++
		if f, ok := fresh().(fastDecoder); ok && f.decodeFast(b) {
			fast++
		}
	}
	newReq := func() any { return new(completeManyRequest) }
	newRep := func() any { return new(completeManyReply) }

	// The plain bodies: read by hand.
	req, rep := hotWire(8)
	for _, v := range []any{req, rep} {
		b, _ := json.Marshal(v)
		fresh := newReq
		if _, ok := v.(completeManyReply); ok {
			fresh = newRep
		}
		before := fast
		try("plain", b, fresh)
		if fast == before {
			t.Fatalf("a plain body is not read by hand: %s", b)
		}
	}

	for i := range 3000 {
		var b []byte
		fresh := newReq
		if i%2 == 0 {
			b, _ = json.Marshal(randomRequest(rng))
		} else {
			b, _ = json.Marshal(randomReply(rng))
			fresh = newRep
		}
		before := fast
		try("encoded", b, fresh)
		if fast > before {
			fastEncoded++
		}
		for range 4 {
			m := mutate(rng, b)
			try("changed", m, fresh)
		}
	}
	if fastEncoded < 3000/3 {
		t.Fatalf("only %d of 3,000 bodies encoding/json wrote read by hand", fastEncoded)
	}
	t.Logf("%d bodies, %d read by hand (%d of the 3,000 unchanged)", total, fast, fastEncoded)
}

// TestFastWireReplaysReadError: a body whose reading fails is decoded by
// encoding/json from the same bytes and the same error.
func TestFastWireReplaysReadError(t *testing.T) {
	boom := errors.New("boom")
	req, _ := hotWire(2)
	b, _ := json.Marshal(req)
	for _, cut := range []int{0, 10, len(b) - 1, len(b)} {
		r := io.MultiReader(bytes.NewReader(b[:cut]), &replay{err: boom})
		var got completeManyRequest
		err := decodeJSON(r, -1, &got)
		var want completeManyRequest
		werr := json.NewDecoder(io.MultiReader(bytes.NewReader(b[:cut]), &replay{err: boom})).Decode(&want)
		if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Errorf("cut at %d: %v, want %v", cut, err, werr)
		}
	}
}

func randomString(rng *rand.Rand) string {
	const plain = "abcdefghijklmnopqrstuvwxyz0123456789-_.:"
	var sb strings.Builder
	special := rng.IntN(30) == 0 // most strings are plain, as ids and tokens are
	for range rng.IntN(12) {
		switch rng.IntN(10) {
		case 0:
			if !special {
				sb.WriteByte('z')
				continue
			}
			sb.WriteString([]string{`"`, `\`, "\n", "\x01", "é", "\u2028", "<&>", "\xff"}[rng.IntN(8)])
		default:
			sb.WriteByte(plain[rng.IntN(len(plain))])
		}
	}
	return sb.String()
}

func randomLease(rng *rand.Rand) wireLease {
	return wireLease{RunID: randomString(rng), TaskID: randomString(rng), Attempt: rng.IntN(5) - 1, Token: randomString(rng),
		Worker: randomString(rng), ExpiresAt: time.Unix(rng.Int64N(1<<33), rng.Int64N(1e9)).In([]*time.Location{time.UTC, time.FixedZone("x", 3600)}[rng.IntN(2)])}
}

func randomRequest(rng *rand.Rand) completeManyRequest {
	var r completeManyRequest
	for range rng.IntN(4) {
		c := wireCompletion{}
		if rng.IntN(2) == 0 {
			c.Version = randomString(rng)
		}
		if rng.IntN(3) == 0 {
			c.Error, c.Retryable, c.Requeue, c.Stack = randomString(rng), rng.IntN(2) == 0, rng.IntN(2) == 0, randomString(rng)
		}
		if rng.IntN(4) == 0 {
			c.CacheKey, c.CacheSrc = randomString(rng), randomString(rng)
		}
		if rng.IntN(6) == 0 {
			code := rng.IntN(3)
			c.ExitCode = &code
		}
		if rng.IntN(6) == 0 {
			c.Metrics = boundedMap[float64]{randomString(rng): rng.Float64()}
		}
		if rng.IntN(8) == 0 {
			c.Outputs = boundedMap[json.RawMessage]{"o": json.RawMessage(`{"a":[1,2]}`)}
		}
		r.Reports = append(r.Reports, completeRequest{Lease: randomLease(rng), Completion: c, Next: rng.IntN(3), Start: rng.IntN(2) == 0})
	}
	return r
}

func randomReply(rng *rand.Rand) completeManyReply {
	var r completeManyReply
	for range rng.IntN(4) {
		var res completeResult
		if rng.IntN(4) == 0 {
			res.Code, res.Error = CodeLeaseLost, randomString(rng)
		} else {
			for range rng.IntN(3) {
				it := wireItem{Lease: randomLease(rng), Type: randomString(rng), Started: rng.IntN(2) == 0, Cache: rng.IntN(2) == 0,
					TimeoutMillis: rng.Int64N(1e6)}
				it.Params = json.RawMessage([]string{`{}`, `{"argv":["/bin/true"]}`, `[1,2.5e3,"x\"y",true,false,null,{}]`, `"s"`, `12`,
					`{"a":{"b":{"c":[]}}}`, `{"é":"\u00e9"}`}[rng.IntN(7)])
				if rng.IntN(6) == 0 {
					it.Inputs = map[string]cairn.ArtifactRef{"in": {Digest: "sha256:" + strings.Repeat("ab", 32), Size: 3}}
				}
				if rng.IntN(8) == 0 {
					it.Secrets = map[string]string{"${secret}": randomString(rng)}
				}
				res.Items = append(res.Items, it)
			}
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// mutate changes b at random in one of the ways JSON can differ.
func mutate(rng *rand.Rand, b []byte) []byte {
	s := string(b)
	if len(s) < 2 {
		return b
	}
	at := rng.IntN(len(s))
	switch rng.IntN(10) {
	case 0: // white space between tokens
		for _, tok := range []string{`{`, `,`, `:`, `[`} {
			s = strings.ReplaceAll(s, tok, tok+[]string{" ", "\n\t", "\r "}[rng.IntN(3)])
		}
	case 1: // cut short
		s = s[:at]
	case 2: // bytes after the value
		s += []string{"\n", " x", "{}", "\n\n"}[rng.IntN(4)]
	case 3: // a key repeated
		for _, k := range []string{`"lease":`, `"items":`, `"version":`, `"run_id":`, `"next":`, `"params":`} {
			if i := strings.Index(s, k); i >= 0 {
				if j := strings.Index(s[i+len(k):], `,`); j >= 0 {
					v := s[i+len(k) : i+len(k)+j]
					s = s[:i] + k + v + "," + s[i:]
					break
				}
			}
		}
	case 4: // a key in other case
		s = strings.Replace(s, []string{`"lease"`, `"run_id"`, `"items"`, `"version"`, `"started"`}[rng.IntN(5)],
			[]string{`"Lease"`, `"RUN_ID"`, `"Items"`, `"Version"`, `"Started"`}[rng.IntN(5)], 1)
	case 5: // a value replaced
		for _, k := range []string{`"attempt":`, `"next":`, `"start":`, `"expires_at":`, `"params":`, `"items":`, `"reports":`, `"results":`, `"completion":`} {
			if rng.IntN(3) == 0 {
				if i := strings.Index(s, k); i >= 0 {
					v := []string{`null`, `1.5`, `-0`, `01`, `"x"`, `true`, `1e2`, `{}`, `[]`, `99999999999999999999`, `"2026-13-01T00:00:00Z"`}[rng.IntN(11)]
					end := strings.IndexAny(s[i+len(k):], ",}")
					if end >= 0 && !strings.ContainsAny(s[i+len(k):i+len(k)+end], "{[") {
						s = s[:i+len(k)] + v + s[i+len(k)+end:]
					}
				}
			}
		}
	case 6: // an unknown key
		s = strings.Replace(s, `{"`, `{"other":1,"`, 1)
	case 7: // a byte changed
		s = s[:at] + string("\"{}[],:0tn\\ x"[rng.IntN(13)]) + s[at+1:]
	case 8: // an empty list
		s = strings.Replace(s, `"items":[`, `"items":[],"x":[`, 1)
	default: // a literal run on
		s = strings.Replace(s, `true`, `trueish`, 1)
	}
	return []byte(s)
}

// TestFastWireWritesAsEncodingJSON: complete-many's request and answer,
// when written by hand, are the bytes encoding/json writes; the plain
// bodies of a fan are written by hand.
func TestFastWireWritesAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var fast int
	try := func(v any) bool {
		t.Helper()
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := v.(fastEncoder).appendFast([]byte("prefix"))
		if !ok {
			if string(got) != "prefix" {
				t.Fatalf("%#v: not written by hand, yet %q appended", v, got)
			}
			return false
		}
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("%#v:\nby hand:       %s\nencoding/json: %s", v, got[6:], want)
		}
		fast++
		return true
	}
	req, rep := hotWire(8)
	if !try(req) || !try(rep) {
		t.Fatal("a plain body is not written by hand")
	}
	try(completeManyRequest{})
	try(completeManyReply{})
	try(completeManyReply{Results: []completeResult{{Items: []wireItem{}}, {Code: CodeLeaseLost, Error: "gone"}}})
	for i := range 3000 {
		if i%2 == 0 {
			try(randomRequest(rng))
		} else {
			try(randomReply(rng))
		}
	}
	if fast < 3000/4 {
		t.Fatalf("only %d of 3,000 bodies written by hand", fast)
	}
	t.Logf("%d of 3,000 bodies written by hand", fast)
}
