//go:build race

package dataset

// raceEnabled scales the differential tests down under the race detector,
// which makes them ten times slower and finds nothing more in this
// single-goroutine package.
const raceEnabled = true
