package dataset

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// randomFrame builds a frame of random kinds and values, with missing
// values (zeroed) in some columns. Categorical values avoid what the CSV
// round trip documents as not preserved: "", the missing tokens, and CRLF.
func randomFrame(r *rand.Rand) *Frame {
	ncol := 1 + r.IntN(6)
	nrow := r.IntN(40)
	kinds := []Kind{Numeric, Categorical, Boolean, Datetime}
	alphabet := []string{"a", "b", "Z", ",", `"`, "\n", "\r", " ", "é", "日本", "'", ";", "x y", "0", "1", "-"}
	f := &Frame{}
	for j := range ncol {
		c := &Column{Name: "col" + strconv.Itoa(j), Kind: kinds[r.IntN(len(kinds))]}
		if r.IntN(3) == 0 {
			c.Name = `we,ird "name"` + strconv.Itoa(j)
		}
		if c.Kind == Categorical {
			c.Str = make([]string, nrow)
		} else {
			c.Num = make([]float64, nrow)
		}
		withMissing := r.IntN(2) == 0
		if withMissing {
			c.Missing = make([]bool, nrow)
		}
		anyMissing := false
		for i := range nrow {
			if withMissing && r.IntN(4) == 0 {
				c.Missing[i] = true
				anyMissing = true
				continue
			}
			switch c.Kind {
			case Numeric:
				switch r.IntN(6) {
				case 0:
					c.Num[i] = float64(r.IntN(2000) - 1000)
				case 1:
					c.Num[i] = math.Float64frombits(r.Uint64()) // any bit pattern
					if math.IsNaN(c.Num[i]) {
						c.Num[i] = 0
					}
				case 2:
					c.Num[i] = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
				case 3:
					c.Num[i] = math.Copysign(0, -1)
				case 4:
					c.Num[i] = math.Inf(1 - 2*r.IntN(2))
				default:
					c.Num[i] = math.SmallestNonzeroFloat64 * float64(r.IntN(5))
				}
			case Boolean:
				c.Num[i] = float64(r.IntN(2))
			case Datetime:
				c.Num[i] = float64(r.Int64N(2*4102444800) - 4102444800) // 1840..2100
			default:
				var sb strings.Builder
				for range 1 + r.IntN(5) {
					sb.WriteString(alphabet[r.IntN(len(alphabet))])
				}
				s := sb.String()
				for strings.Contains(s, "\r\n") {
					s = strings.ReplaceAll(s, "\r\n", "\n")
				}
				for _, m := range DefaultMissing() {
					if s == m {
						s = "v" + s
					}
				}
				c.Str[i] = s
			}
		}
		if !anyMissing {
			c.Missing = nil
		}
		f.Columns = append(f.Columns, c)
	}
	return f
}

func TestRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		f := randomFrame(r)
		out := writeString(t, f)
		back, err := ReadCSV(strings.NewReader(out), ReadOptions{Schema: Describe(f).Kinds(), AllowInf: true})
		if err != nil {
			t.Fatalf("iter %d: %v\n%q", iter, err, out)
		}
		if d := frameDiff(f, back); d != "" {
			t.Fatalf("iter %d: %s\n%q", iter, d, out)
		}
		if again := writeString(t, back); again != out {
			t.Fatalf("iter %d: second write differs", iter)
		}
	}
}

func TestDatetimeFormatting(t *testing.T) {
	c := &Column{Name: "t", Kind: Datetime, Num: []float64{0, 1.5, -0.25, 1704153600.123}}
	want := []string{"1970-01-01T00:00:00Z", "1970-01-01T00:00:01.5Z", "1969-12-31T23:59:59.75Z", "2024-01-02T00:00:00.122999907Z"}
	for i, w := range want {
		if got := c.Value(i); got != w {
			t.Errorf("Value(%d) = %q, want %q", i, got, w)
		}
	}
	// Sub-second values come back within a nanosecond.
	f := &Frame{Columns: []*Column{c}}
	back := mustReadCSV(t, writeString(t, f), ReadOptions{})
	for i, v := range c.Num {
		ulp := math.Nextafter(math.Abs(v), math.Inf(1)) - math.Abs(v)
		if d := math.Abs(back.Columns[0].Num[i] - v); d > 1e-9+2*ulp {
			t.Errorf("row %d: %v read back as %v", i, v, back.Columns[0].Num[i])
		}
	}
}
