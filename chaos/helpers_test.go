package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/store/postgres/pgtest"
)

// seed is the scenario's seed: CAIRN_CHAOS_SEED to replay one, else the
// clock's. It is logged first, so a failure can be replayed.
func seed(t *testing.T) (uint64, *rand.Rand) {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("CAIRN_CHAOS_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("CAIRN_CHAOS_SEED=%q: want an unsigned integer: %v", v, err)
		}
	}
	t.Logf("seed %d (CAIRN_CHAOS_SEED=%d to replay the draws)", s, s)
	return s, rand.New(rand.NewPCG(s, s))
}

// long reports whether the long versions run (make chaos sets
// CAIRN_CHAOS_LONG=1); the short ones run in make test.
func long() bool { return os.Getenv("CAIRN_CHAOS_LONG") != "" }

// pick returns the long value under make chaos, the short one otherwise.
func pick[T any](short, longer T) T {
	if long() {
		return longer
	}
	return short
}

// envInt reads a positive integer from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// probeWorkflow is a workflow of n probe tasks (p0000, p0001, ...) in
// layers of width, each task after the first layer needing two of the
// layer before, with retries enough to succeed through the faults.
func probeWorkflow(name string, n, width int, napMS int, failPermille int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `name: %s
params:
  ledger: {type: string}
defaults:
  retries: 20
  retry_backoff: 10ms
  max_interruptions: 100
tasks:
`, name)
	id := func(i int) string { return fmt.Sprintf("p%04d", i) }
	for i := range n {
		needs := ""
		if layer := i / width; layer > 0 {
			first := (layer - 1) * width
			needs = fmt.Sprintf(", needs: [%s, %s]", id(first+i%width), id(first+(i+1)%width))
		}
		fmt.Fprintf(&b, "  - {id: %s, type: probe%s, with: {ledger: \"${{ params.ledger }}\", nap_ms: %d, fail_permille: %d}}\n",
			id(i), needs, napMS, failPermille)
	}
	return []byte(b.String())
}

// waitFor polls cond every 50ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --- PostgreSQL: a database of the test's own (store/postgres/pgtest), and
// its connections dropped from outside Cairn.

// newDatabase makes a database of the test's own on the server of
// CAIRN_TEST_POSTGRES (or skips), dropped at its end, and returns its DSN
// and name.
func newDatabase(t *testing.T) (dsn, name string) {
	t.Helper()
	dsn = pgtest.NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return dsn, strings.TrimPrefix(u.Path, "/")
}

// terminateBackends drops every connection to database name
// (pg_terminate_backend) and returns how many there were.
func terminateBackends(t *testing.T, name string) int {
	t.Helper()
	rows := pgtest.Query(t, pgtest.ServerDSN(t),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)
	n, err := strconv.Atoi(rows[0][0])
	if err != nil {
		t.Fatalf("pg_terminate_backend: %v", err)
	}
	return n
}

// pgtestServer skips the test unless CAIRN_TEST_POSTGRES names a server.
func pgtestServer(t *testing.T) { pgtest.ServerDSN(t) }
