package cairn

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ArtifactRef names an immutable, content-addressed blob: a data set, a
// model, a report. It is what crosses process and machine boundaries in
// place of the bytes themselves.
type ArtifactRef struct {
	Digest    string `json:"digest"` // "sha256:<64 hex>"
	Size      int64  `json:"size"`
	MediaType string `json:"media_type,omitempty"`
}

// Validate reports whether r is well formed.
func (r ArtifactRef) Validate() error {
	if !validDigest(r.Digest) {
		return fmt.Errorf("artifact digest %q is not sha256:<64 lowercase hex>", r.Digest)
	}
	if r.Size < 0 {
		return fmt.Errorf("artifact %s has negative size %d", r.Digest, r.Size)
	}
	return nil
}

// Hex returns the digest without its "sha256:" prefix.
func (r ArtifactRef) Hex() string {
	if len(r.Digest) > 7 {
		return r.Digest[7:]
	}
	return ""
}

// JSON returns r encoded as an output value.
func (r ArtifactRef) JSON() json.RawMessage {
	b, _ := json.Marshal(r) // cannot fail: strings and an int
	return b
}

// AsArtifactRef decodes an output value that holds an artifact reference.
// It reports false for any other JSON value.
func AsArtifactRef(v json.RawMessage) (ArtifactRef, bool) {
	if r, ok := canonicalRef(v); ok {
		return r, true
	}
	return decodeRef(v)
}

// decodeRef is AsArtifactRef by encoding/json: any JSON object with a
// "digest" that decodes to a valid ArtifactRef.
func decodeRef(v []byte) (ArtifactRef, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil {
		return ArtifactRef{}, false
	}
	if _, ok := m["digest"]; !ok {
		return ArtifactRef{}, false
	}
	var r ArtifactRef
	if json.Unmarshal(v, &r) != nil || r.Validate() != nil {
		return ArtifactRef{}, false
	}
	return r, true
}

// validDigest reports whether d is "sha256:" and 64 lowercase hex digits
// (what the regular expression ^sha256:[0-9a-f]{64}$ matches, without
// one: it was a fifth of AsArtifactRef's time).
func validDigest(d string) bool {
	if len(d) != 71 || d[:7] != "sha256:" {
		return false
	}
	for i := 7; i < len(d); i++ {
		if c := d[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// canonicalRef decodes v when it is exactly what ArtifactRef.JSON writes
// for a valid reference — {"digest":"sha256:<64 hex>","size":N} with
// ,"media_type":"T" before the brace when T is not empty, N without sign,
// leading zero or exponent, T printable ASCII without quote or backslash —
// which is what every output a task or the store wrote holds. Anything
// else reports false, and AsArtifactRef decodes it with encoding/json
// (decodeRef): the two agree on every value this accepts
// (TestAsArtifactRefFastPath).
// encoding/json, twice, was 4 % of a cached re-run's CPU: every reused
// output is decoded by the reuse's check, the lineage of its completion
// and its successor's inputs.
func canonicalRef(v []byte) (ArtifactRef, bool) {
	const head = `{"digest":"`
	if !bytes.HasPrefix(v, []byte(head)) || len(v) < len(head)+71+len(`","size":0}`) {
		return ArtifactRef{}, false
	}
	digest := string(v[len(head) : len(head)+71])
	if !validDigest(digest) {
		return ArtifactRef{}, false
	}
	rest := v[len(head)+71:]
	if !bytes.HasPrefix(rest, []byte(`","size":`)) {
		return ArtifactRef{}, false
	}
	rest = rest[len(`","size":`):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || n > 18 || (n > 1 && rest[0] == '0') { // 18 digits: no int64 overflow
		return ArtifactRef{}, false
	}
	var size int64
	for _, c := range rest[:n] {
		size = size*10 + int64(c-'0')
	}
	rest = rest[n:]
	r := ArtifactRef{Digest: digest, Size: size}
	if len(rest) == 1 && rest[0] == '}' {
		return r, true
	}
	const mt = `,"media_type":"`
	if !bytes.HasPrefix(rest, []byte(mt)) || len(rest) < len(mt)+3 || !bytes.HasSuffix(rest, []byte(`"}`)) {
		return ArtifactRef{}, false
	}
	t := rest[len(mt) : len(rest)-2]
	for _, c := range t {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return ArtifactRef{}, false
		}
	}
	r.MediaType = string(t)
	return r, true
}
