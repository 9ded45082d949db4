// Package chaos is Cairn's fault-injection harness (issue #21): what the
// scenarios of `make chaos` (long) and `make test` (short, seeded) are
// made of, and the scenarios themselves in its tests.
//
//   - Probe, the task type the scenarios run: each attempt appends
//     (run, task, attempt, worker, nonce, time) to a ledger file outside
//     Cairn (Append: O_APPEND, one write and an fsync per record). Command
//     chaos/cairn-probe serves it as a plugin binary, so that it runs in a
//     real subprocess of whichever process leased the attempt, pinned by
//     that home's lock file.
//   - FaultStore, a scheduler.Store around another that fails writes
//     before they happen, reports committed writes as failed (ambiguous
//     commits: timeouts and resets after the commit), fails reads, and
//     cuts the store off altogether (a partition), for in-process
//     scenarios on either store; FaultTransport does the same to a
//     remote worker's calls of the worker API (an answer lost after the
//     server handled the call).
//   - Check, the checker: from the store's task runs and attempts and the
//     ledger, per scenario, the tasks lost, the completions accepted
//     twice, those accepted under a superseded lease and the runs not
//     terminal (Report).
//
// The driver — processes started, SIGKILLed, SIGSTOPped and SIGCONTed at
// moments drawn from a seed, database connections dropped with
// pg_terminate_backend — is in the tests, which run the real binary on
// loopback. docs/reliability.md lists the scenarios, their figures and
// the commands that reproduce them.
package chaos
