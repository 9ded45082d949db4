//go:build race

package workflows

// raceEnabled: the race detector makes Parse, which runs on one
// goroutine, about ten times slower; the largest tests shrink under it.
const raceEnabled = true
