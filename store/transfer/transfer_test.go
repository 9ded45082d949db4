package transfer_test

import (
	"math"
	"testing"

	"github.com/cairnml/cairn/store/transfer"
)

func digest(t *testing.T, rows ...[]any) string {
	t.Helper()
	d := transfer.NewDigest()
	for _, r := range rows {
		if err := d.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return d.Sum()
}

// TestDigestTellsRowsApart: rows that differ in a value, its type, where
// a value ends or the order of rows give different digests.
func TestDigestTellsRowsApart(t *testing.T) {
	cases := [][][]any{
		{{"ab", "c"}},
		{{"a", "bc"}},
		{{"abc"}},
		{{[]byte("ab"), "c"}},
		{{nil, "c"}},
		{{"", "c"}},
		{{int64(1)}},
		{{float64(1)}},
		{{math.Copysign(0, -1)}},
		{{float64(0)}},
		{{int64(0)}},
		{{"x"}, {"y"}},
		{{"y"}, {"x"}},
		{{"x"}},
		{},
	}
	seen := map[string]int{}
	for i, c := range cases {
		s := digest(t, c...)
		if j, dup := seen[s]; dup {
			t.Errorf("cases %d and %d have the same digest: %v, %v", j, i, cases[j], c)
		}
		seen[s] = i
	}
	if digest(t, []any{"a", int64(2), nil, []byte{0xff}, 0.1}) != digest(t, []any{"a", int64(2), nil, []byte{0xff}, 0.1}) {
		t.Error("the same row twice digests differently")
	}
	if err := transfer.NewDigest().Add([]any{int32(1)}); err == nil {
		t.Error("a value not normalized was digested")
	}
}

func TestNormalize(t *testing.T) {
	ok := []struct {
		k    transfer.Kind
		in   any
		want any
	}{
		{transfer.Int, int64(-5), int64(-5)},
		{transfer.Int, 7, int64(7)},
		{transfer.Int, float64(3), int64(3)},
		{transfer.Float, int64(2), float64(2)},
		{transfer.Text, []byte("héllo"), "héllo"},
		{transfer.Bytes, "raw", []byte("raw")},
		{transfer.Text, nil, nil},
	}
	for _, c := range ok {
		got, err := transfer.Normalize(c.k, c.in)
		if err != nil {
			t.Errorf("Normalize(%s, %#v): %v", c.k, c.in, err)
			continue
		}
		if b, isB := c.want.([]byte); isB {
			if string(got.([]byte)) != string(b) {
				t.Errorf("Normalize(%s, %#v) = %#v", c.k, c.in, got)
			}
		} else if got != c.want {
			t.Errorf("Normalize(%s, %#v) = %#v, want %#v", c.k, c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		k  transfer.Kind
		in any
	}{{transfer.Int, "12"}, {transfer.Int, 1.5}, {transfer.Text, []byte{0xff, 0xfe}}, {transfer.Float, "x"}, {transfer.Bytes, int64(1)}} {
		if _, err := transfer.Normalize(c.k, c.in); err == nil {
			t.Errorf("Normalize(%s, %#v) accepted", c.k, c.in)
		}
	}
}
