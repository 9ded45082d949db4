package metrics

import (
	"math"
	"slices"
)

// key maps a finite float64 to a uint64 with the same order, -0 and +0 to
// the same key (numpy sees them as tied).
func key(f float64) uint64 {
	if f == 0 {
		f = 0
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// unkey inverts key.
func unkey(k uint64) float64 {
	if k>>63 != 0 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// radixMin is the length below which a comparison sort is faster than
// eight counting passes.
const radixMin = 1024

// sortKeys sorts keys ascending using buf (at least as long) as scratch:
// an LSD radix sort, one byte per pass, skipping bytes that all keys share
// (the sign and exponent of probabilities mostly do).
func sortKeys(keys, buf []uint64) {
	n := len(keys)
	if n < radixMin {
		slices.Sort(keys)
		return
	}
	var counts [8][256]int
	for _, k := range keys {
		counts[0][byte(k)]++
		counts[1][byte(k>>8)]++
		counts[2][byte(k>>16)]++
		counts[3][byte(k>>24)]++
		counts[4][byte(k>>32)]++
		counts[5][byte(k>>40)]++
		counts[6][byte(k>>48)]++
		counts[7][byte(k>>56)]++
	}
	src, dst := keys, buf[:n]
	for b := range 8 {
		shift := uint(8 * b)
		c := &counts[b]
		if c[byte(src[0]>>shift)] == n {
			continue
		}
		sum := 0
		for i, v := range c {
			c[i] = sum
			sum += v
		}
		for _, k := range src {
			d := byte(k >> shift)
			dst[c[d]] = k
			c[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}
