package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// Test-only hooks of cairn server, set in its environment by the crash
// tests (cmd/cairn/cron_crash_test.go); never set them otherwise.
const (
	// envTestClock makes the schedules' clock start at this RFC 3339
	// instant and run on from there: a test fires the slots of any day at
	// once, without waiting for them.
	envTestClock = "CAIRN_TEST_CLOCK"
	// envTestKillInSlotTx makes the server kill itself (SIGKILL) inside
	// the first transaction that creates a schedule's runs, after they are
	// written and before the commit.
	envTestKillInSlotTx = "CAIRN_TEST_KILL_IN_SLOT_TX"
)

// testClock is the schedules' clock envTestClock sets, or nil.
func testClock() (func() time.Time, error) {
	v := os.Getenv(envTestClock)
	if v == "" {
		return nil, nil
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envTestClock, err)
	}
	start := time.Now()
	return func() time.Time { return at.Add(time.Since(start)) }, nil
}

// testKillInSlotTx is the hook envTestKillInSlotTx asks for, or nil.
func testKillInSlotTx() func() {
	if os.Getenv(envTestKillInSlotTx) == "" {
		return nil
	}
	return func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
}

// envTestKillInCopy makes 'cairn migrate --to' kill itself (SIGKILL) as
// its copy reaches the table named, the tables before it written into the
// target's transaction and not committed.
const envTestKillInCopy = "CAIRN_TEST_KILL_IN_COPY"

// testKillInCopy is the table envTestKillInCopy names, or "".
func testKillInCopy() string { return os.Getenv(envTestKillInCopy) }
