//go:build race

package tasks_test

// raceEnabled: allocations are not compared under the race detector.
const raceEnabled = true
