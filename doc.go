// Package cairn is the vocabulary of the Cairn ML workflow orchestrator: runs,
// task runs and their attempts, their states and the transitions allowed
// between them, leases, artifact references and the error kinds that say
// whether a failed attempt may be retried.
//
// It depends on the standard library only. Every other package speaks these
// types; none of them carries SQL tags or library types, so the same values
// cross the store, the scheduler, the executor and (later) the wire to remote
// workers and plugins.
package cairn
