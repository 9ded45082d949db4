// Package noop is the "noop" task type: it does nothing, successfully, and
// produces no outputs. Its optional params make it misbehave on purpose, for
// tests of the scheduler and the executor:
//
//	sleep: "2s"        wait this long first (returns early, with the
//	                   context's error, if the attempt is cancelled)
//	panic: true        then panic
//	fail: "message"    then fail with a retryable error carrying message
//
// They apply in that order.
package noop
