// Package postgres implements scheduler.Store on PostgreSQL, for several
// Cairn processes (servers, and through them remote workers) on one
// database. It passes the same conformance suite as store/sqlite
// (store/storetest) and shares its encodings: the schema of
// migrations/postgres mirrors migrations/sqlite file by file, times are
// BIGINT Unix nanoseconds, JSON values TEXT.
//
// It is a home of pgx (with store/sqlsource, whose connections are
// read-only and one query long): it uses pgx's native pool (pgxpool), for
// its statement cache, arrays bound as parameters (the set-based writes
// are one statement over unnest(...) of arrays, whatever their number of
// rows) and LISTEN/NOTIFY on a dedicated connection.
//
// Every method is one transaction at READ COMMITTED; concurrency control
// is by compare-and-set in each statement (a row's version, state, lease
// token) and row locks: leases are claimed with FOR UPDATE SKIP LOCKED,
// so that concurrent leasers never wait on each other nor get one task
// twice. A transaction that fails with a serialization failure or a
// deadlock is retried a few times with backoff (not a Batch: its fn runs
// once). Sequence numbers never come from max()+1 without a lock:
// ready_gen from a sequence, evaluation ids from an identity column under
// a transaction-scoped advisory lock (so that they appear in commit
// order), model versions under the registry's advisory lock.
//
// Lease and claim expiry is judged by the database's clock
// (statement_timestamp()), not the caller's, unless the store is opened
// WithCallerClock (the conformance suite, which moves time by hand): see
// Open.
package postgres
