// Package rng is the seeded randomness of Cairn's ML packages (splits,
// folds, synthetic data, forests): PCG's raw 64-bit stream with bounded,
// uniform and normal draws written out here, rather than math/rand's
// helpers, so that a seed gives the same numbers on every platform and in
// every Go release — the built-in tasks' bytes depend on it.
package rng

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// SplitMix64 is the SplitMix64 output function (Steele, Lea, Flood 2014):
// it turns a seed (or a seed mixed with a stream number) into well-spread
// PCG state.
func SplitMix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Source is a stream of random numbers. It is not safe for concurrent use;
// give each goroutine its own.
type Source struct {
	pcg   *rand.PCG
	spare float64 // the second value of the last Box–Muller pair
	has   bool
}

// New returns the PCG stream seeded with s1 and s2 (usually derived from a
// user's seed with SplitMix64).
func New(s1, s2 uint64) *Source { return &Source{pcg: rand.NewPCG(s1, s2)} }

// Uint64 returns 64 random bits.
func (s *Source) Uint64() uint64 { return s.pcg.Uint64() }

// Bits returns d random bits (all 64 when d >= 64).
func (s *Source) Bits(d int) uint64 {
	if d >= 64 {
		return s.Uint64()
	}
	return s.Uint64() & (1<<uint(d) - 1)
}

// Below returns a uniform integer in [0, n), n > 0 (Lemire's method).
func (s *Source) Below(n uint64) uint64 {
	hi, lo := bits.Mul64(s.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(s.Uint64(), n)
		}
	}
	return hi
}

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (s *Source) Float64() float64 { return float64(s.Uint64()>>11) * 0x1p-53 }

// Normal returns a standard normal value (Box–Muller, two at a time).
func (s *Source) Normal() float64 {
	if s.has {
		s.has = false
		return s.spare
	}
	u1 := float64(s.Uint64()>>11+1) * 0x1p-53 // (0, 1]
	u2 := s.Float64()
	r := math.Sqrt(-2 * math.Log(u1))
	sin, cos := math.Sincos(2 * math.Pi * u2)
	s.spare, s.has = r*sin, true
	return r * cos
}

// Shuffle permutes x uniformly (Fisher–Yates).
func (s *Source) Shuffle(x []int) {
	for i := len(x) - 1; i > 0; i-- {
		j := s.Below(uint64(i + 1))
		x[i], x[j] = x[j], x[i]
	}
}
