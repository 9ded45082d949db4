package sqlrow

import (
	"slices"
	"testing"
)

// TestValueDigests: the digests of a task run's values, as SQLite's
// json_each and json_extract read them in NeededArtifacts.
func TestValueDigests(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{`{"a":{"digest":"sha256:aa","size":1},"n":3,"b":{"digest":"sha256:bb"},"c":{"size":2},"d":{"digest":null}}`, []string{"sha256:aa", "sha256:bb"}},
		{`[{"digest":"sha256:cc"},"x",[{"digest":"sha256:nested"}]]`, []string{"sha256:cc"}},
		{` {"a":{"digest":"sha256:dd"}}`, []string{"sha256:dd"}},
		{`{"not json`, nil},
		{`"a string"`, nil},
		{``, nil},
		{`{"a":{"digest":7}}`, []string{"7"}},
	} {
		got := ValueDigests([]byte(c.text))
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("ValueDigests(%s) = %v, want %v", c.text, got, c.want)
		}
	}
}
