package cairn

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"
)

// TestAsArtifactRefFastPath: every reference ArtifactRef.JSON writes is
// decoded by canonicalRef, to what encoding/json decodes it to; and on
// ten thousands of values near those (a byte changed, cut, doubled or put in,
// keys reordered, spaces, escapes, signs, exponents, huge sizes) whatever
// canonicalRef accepts, encoding/json decodes to the same reference, and
// AsArtifactRef answers as encoding/json does.
func TestAsArtifactRefFastPath(t *testing.T) {
	rng := rand.New(rand.NewSource(19))
	hex := "0123456789abcdef"
	digest := func() string {
		b := make([]byte, 64)
		for i := range b {
			b[i] = hex[rng.Intn(16)]
		}
		return "sha256:" + string(b)
	}
	var seeds [][]byte
	for _, mt := range []string{"", "text/csv", "application/vnd.cairn.model+json", "a<b>&c", "x"} {
		for _, size := range []int64{0, 10, 120384, 999999999999999999} {
			r := ArtifactRef{Digest: digest(), Size: size, MediaType: mt}
			b := r.JSON()
			got, ok := canonicalRef(b)
			want, wok := decodeRef(b)
			if !wok || want != r {
				t.Fatalf("encoding/json does not read back %s: %+v %v", b, want, wok)
			}
			// JSON escapes <, > and &: such a media type is left to encoding/json.
			if strings.ContainsAny(mt, "<>&") {
				if ok {
					t.Errorf("canonicalRef took the escaped %s", b)
				}
			} else if !ok || got != r {
				t.Errorf("canonicalRef(%s) = %+v, %v; want %+v", b, got, ok, r)
			}
			seeds = append(seeds, b)
		}
	}
	d := digest()
	seeds = append(seeds,
		[]byte(`{"size":5,"digest":"`+d+`"}`),
		[]byte(`{"digest":"`+d+`","size":5,"media_type":""}`),
		[]byte(`{"digest":"`+d+`","size":5} `),
		[]byte(` {"digest":"`+d+`","size":5}`),
		[]byte(`{"digest":"`+d+`","size":-5}`),
		[]byte(`{"digest":"`+d+`","size":05}`),
		[]byte(`{"digest":"`+d+`","size":5e2}`),
		[]byte(`{"digest":"`+d+`","size":5.0}`),
		[]byte(`{"digest":"`+d+`","size":9223372036854775808}`),
		[]byte(`{"digest":"`+d+`","size":1234567890123456789}`),
		[]byte(`{"digest":"`+d+`","size":5,"media_type":"a\"b"}`),
		[]byte(`{"digest":"`+d+`","size":5,"media_type":"a\\b"}`),
		[]byte(`{"digest":"`+d+`","size":5,"media_type":"\u00e9"}`),
		[]byte(`{"digest":"`+d+`","size":5,"media_type":"é"}`),
		[]byte(`{"Digest":"`+d+`","size":5}`),
		[]byte(`{"digest":"`+d+`","size":5,"digest":"`+digest()+`"}`),
		[]byte(`{"digest":"`+strings.ToUpper(d)+`","size":5}`),
		[]byte(`{"digest":"`+d+`","size":5,"extra":1}`),
		[]byte(`"`+d+`"`), []byte(`5`), []byte(`null`), []byte(`{}`),
	)
	cases := 0
	check := func(v []byte) {
		t.Helper()
		cases++
		want, wok := decodeRef(v)
		if got, ok := canonicalRef(v); ok && (!wok || got != want) {
			t.Fatalf("canonicalRef(%q) = %+v, true; encoding/json: %+v, %v", v, got, want, wok)
		}
		if got, ok := AsArtifactRef(v); ok != wok || got != want {
			t.Fatalf("AsArtifactRef(%q) = %+v, %v; encoding/json: %+v, %v", v, got, ok, want, wok)
		}
	}
	alphabet := []byte(`{}":,\ -+.eE0123456789abcdefxyzDS/` + "\t\n\x00\x7f\xc3")
	for _, s := range seeds {
		check(s)
		for i := 0; i <= len(s); i++ {
			if i < len(s) {
				check(append(append([]byte{}, s[:i]...), s[i+1:]...)) // a byte cut
				for range 4 {
					if c := alphabet[rng.Intn(len(alphabet))]; c != s[i] {
						m := append([]byte{}, s...)
						m[i] = c
						check(m) // a byte changed
					}
				}
				check(append(append(append([]byte{}, s[:i+1]...), s[i]), s[i+1:]...)) // a byte doubled
			}
			c := alphabet[rng.Intn(len(alphabet))]
			check(append(append(append([]byte{}, s[:i]...), c), s[i:]...)) // a byte put in
		}
	}
	if cases < 10000 {
		t.Fatalf("only %d cases", cases)
	}
}

// TestValidDigest: validDigest is the regular expression it replaced.
func TestValidDigest(t *testing.T) {
	re := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	d := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	cases := []string{d, "", "sha256:", d + "\n", d + "0", d[:70], "sha512:" + d[7:], "SHA256:" + d[7:], strings.ToUpper(d)}
	for i := range d {
		for _, c := range []byte("0af9gG:/\n \x00\xff") {
			b := []byte(d)
			b[i] = c
			cases = append(cases, string(b))
		}
	}
	for _, c := range cases {
		if got, want := validDigest(c), re.MatchString(c); got != want {
			t.Errorf("validDigest(%q) = %v, the expression says %v", c, got, want)
		}
	}
}
