package cairn

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
)

// ArtifactRef names an immutable, content-addressed blob: a data set, a
// model, a report. It is what crosses process and machine boundaries in
// place of the bytes themselves.
type ArtifactRef struct {
	Digest    string `json:"digest"` // "sha256:<64 hex>"
	Size      int64  `json:"size"`
	MediaType string `json:"media_type,omitempty"`
}

var digestRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256:[0-9a-f]{64}$`) })

// Validate reports whether r is well formed.
func (r ArtifactRef) Validate() error {
	if !digestRE().MatchString(r.Digest) {
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
