// Package artifacts owns Cairn's bytes on local disk: the content-addressed
// artifact store (Dir) that tasks read their inputs from and write their
// outputs to, and the per-attempt task logs (Logs).
//
// A Dir lays its blobs out as
//
//	<root>/sha256/<first two hex digits>/<64 hex digits>   read-only, immutable
//	<root>/tmp/                                            uploads in progress
//
// Blobs are written to a temporary file on the same filesystem while they are
// hashed, synced, and renamed into place, so a reader never sees a partial
// blob and a crash leaves at most a stray temporary file. Reads are verified
// against the digest as they go: a corrupted blob is reported as an error
// wrapping ErrCorrupt at the end of the stream, never returned silently.
//
// Logs keeps one file per task attempt at <root>/<run>/<task>/<attempt>.log.
package artifacts
