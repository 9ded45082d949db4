package dataset

import (
	"math"
	"math/bits"
)

// This file is ReadCSV's fast path for numbers: a decimal number read
// straight from the input bytes, with no string made for it, giving the
// float64 strconv.ParseFloat gives. Anything the fast path does not take
// (hexadecimal, Inf and NaN spellings, underscores, more than 19
// significant digits, an exponent beyond the power table, a result
// Eisel-Lemire cannot round with certainty, overflow, underflow) goes
// through strconv.ParseFloat and inferableNumber as before; both paths
// give the same value, which parsenum_test.go checks against
// strconv.ParseFloat.

// A number the fast path read. inferable is inferableNumber's verdict
// when it is certain without the written digits (exact is false for an
// integer of 2^53 or more, which needs them: the caller then takes the
// slow path).
type fastNum struct {
	v     float64
	end   int  // index of the byte after the number
	ok    bool // the bytes from the start up to end are a number read here
	infer bool // inferable (meaningful when ok)
}

// scanNumber reads a plain decimal number at b[i:]: an optional sign,
// digits with an optional point (at least one digit), an optional
// exponent (e or E, an optional sign, at least one digit). It stops at
// the first byte that cannot continue the number; the caller checks that
// this byte ends the field. ok is false for what the fast path leaves to
// strconv.ParseFloat (see above), including any malformed number.
func scanNumber(b []byte, i int) fastNum {
	n := len(b)
	// The sign of most numbers in data is random: no branch on it.
	var sign uint64
	if i < n {
		c := b[i]
		if c == '-' {
			sign = 1 << 63
		}
		if c == '-' || c == '+' {
			i++
		}
	}
	start := i // first digit (or point)
	// All the digits go into man, leading zeros included (they add
	// nothing); with more than 19, which man may not hold, they are
	// counted again without those zeros.
	var man uint64
	i, man = digits(b, i, man)
	intDigits := i - start
	fracDigits := 0
	if i < n && b[i] == '.' {
		i++
		fs := i
		i, man = digits(b, i, man)
		fracDigits = i - fs
	}
	if intDigits+fracDigits > 19 && significantDigits(b[start:i]) > 19 || intDigits+fracDigits == 0 {
		return fastNum{}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		return finishNumber(b, i, start, man, -fracDigits, intDigits, fracDigits, sign)
	}
	// finishNumber without an exponent, the common case, written out
	// here (three calls per number were a tenth of ReadCSV's time): man
	// over 10^fracDigits, and inference decided as finishNumber decides
	// it.
	var v float64
	if man <= 1<<53 && fracDigits <= 22 {
		v = float64(man)
		if fracDigits > 0 {
			v /= float64pow10[fracDigits]
		}
		v = math.Float64frombits(math.Float64bits(v) | sign)
	} else {
		var ok bool
		if v, ok = eiselLemire64(man, -fracDigits, sign); !ok {
			return fastNum{}
		}
	}
	infer := true
	switch {
	case intDigits > 1 && b[start] == '0':
		infer = false // a leading zero
	case i == start+intDigits && man >= maxExact: // an integer from 2^53
		return fastNum{}
	case fracDigits > 30 && !plainRange(v):
		infer = false // under 1e-30
	}
	return fastNum{v: v, end: i, ok: true, infer: infer}
}

// significantDigits counts the digits of a number's digits and point
// after its leading zeros.
func significantDigits(b []byte) int {
	nd, lead := 0, true
	for _, c := range b {
		switch {
		case c == '.':
		case lead && c == '0':
		default:
			lead = false
			nd++
		}
	}
	return nd
}

// digits appends the decimal digits at b[i:] to man (modulo 2^64: the
// caller counts them) and returns the index after them.
func digits(b []byte, i int, man uint64) (int, uint64) {
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		man = man*10 + uint64(c)
	}
	return i, man
}

// finishNumber reads the exponent at b[i:], if any, and returns the
// number: man × 10^exp with the sign bit sign, written from b[ds] with
// intDigits digits before the point (if any) and fracDigits after it.
func finishNumber(b []byte, i, ds int, man uint64, exp, intDigits, fracDigits int, sign uint64) fastNum {
	n := len(b)
	if intDigits+fracDigits == 0 {
		return fastNum{}
	}
	// No point, no exponent: an integer as written.
	integer, plain := i == ds+intDigits, true
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		integer, plain = false, false
		i++
		eneg := false
		if i < n && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		e := 0
		for ; i < n; i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			if e < 10000 {
				e = e*10 + int(c)
			}
		}
		if i == es {
			return fastNum{}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	v, ok := decimalToFloat(man, exp, sign)
	if !ok {
		return fastNum{}
	}
	// inferableNumber's tests of v, decided from the digits where they
	// can be (so as not to wait for v): with at most 19 digits, an
	// integer is 2^53 or more exactly when man is, and a plain number is
	// below 1e21, and 1e-30 or more (or 0) if it has at most 30 digits
	// after the point (v is man × 10^exp rounded, and rounding keeps
	// order).
	infer := true
	switch {
	case intDigits > 1 && b[ds] == '0':
		infer = false // a leading zero a number would drop (007, 00.5)
	case integer && man >= maxExact:
		return fastNum{} // whether it is exact depends on the digits: slow path
	case plain && fracDigits > 30 && !plainRange(v):
		infer = false // WriteCSV would write it with an exponent
	}
	return fastNum{v: v, end: i, ok: true, infer: infer}
}

// float64pow10 holds the powers of ten a float64 represents exactly.
var float64pow10 = [...]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
	1e20, 1e21, 1e22,
}

// decimalToFloat returns man × 10^exp with the sign bit sign (0 or
// 1<<63) correctly rounded (IEEE round half to even, as
// strconv.ParseFloat rounds), or ok false when it cannot tell here: a
// result that overflows or is subnormal or zero (for a non-zero man), an
// exponent outside the power table, or a case Eisel-Lemire leaves
// undecided.
func decimalToFloat(man uint64, exp int, sign uint64) (float64, bool) {
	if man == 0 {
		return math.Float64frombits(sign), true // ±0
	}
	// Both operands exact, one rounding: the correctly rounded result.
	if man <= 1<<53 && exp >= -22 && exp <= 22 {
		f := float64(man)
		if exp < 0 {
			f /= float64pow10[-exp]
		} else {
			f *= float64pow10[exp]
		}
		return math.Float64frombits(math.Float64bits(f) | sign), true
	}
	return eiselLemire64(man, exp, sign)
}

// eiselLemire64 is the Eisel-Lemire algorithm (Daniel Lemire, "Number
// Parsing at a Gigabyte per Second", 2021; Nigel Tao's description at
// https://nigeltao.github.io/blog/2020/eisel-lemire.html), the one
// strconv.ParseFloat uses for the same inputs: man × 10^exp10 rounded to
// a float64 from a 128-bit approximation of the power of ten, with the
// sign bit sign, and ok false when that approximation cannot decide the
// rounding.
func eiselLemire64(man uint64, exp10 int, sign uint64) (float64, bool) {
	if exp10 < pow10Min || exp10 > pow10Max {
		return 0, false
	}
	pow := pow10Tab[exp10-pow10Min]
	// Normalization.
	clz := bits.LeadingZeros64(man)
	man <<= uint(clz)
	const bias = 1023
	retExp2 := uint64(217706*exp10>>16+64+bias) - uint64(clz)
	// Multiplication.
	xHi, xLo := bits.Mul64(man, pow[0])
	// Wider approximation.
	if xHi&0x1FF == 0x1FF && xLo+man < man {
		yHi, yLo := bits.Mul64(man, pow[1])
		mergedHi, mergedLo := xHi, xLo+yHi
		if mergedLo < xLo {
			mergedHi++
		}
		if mergedHi&0x1FF == 0x1FF && mergedLo+1 == 0 && yLo+man < man {
			return 0, false
		}
		xHi, xLo = mergedHi, mergedLo
	}
	// Shifting to 54 bits.
	msb := xHi >> 63
	retMantissa := xHi >> (msb + 9)
	retExp2 -= 1 ^ msb
	// Half-way ambiguity.
	if xLo == 0 && xHi&0x1FF == 0 && retMantissa&3 == 1 {
		return 0, false
	}
	// From 54 to 53 bits.
	retMantissa += retMantissa & 1
	retMantissa >>= 1
	if retMantissa>>53 > 0 {
		retMantissa >>= 1
		retExp2++
	}
	// Zero or underflow (a subnormal result) or Inf: not decided here.
	if retExp2-1 >= 0x7FF-1 {
		return 0, false
	}
	return math.Float64frombits(retExp2<<52 | retMantissa&(1<<52-1) | sign), true
}
