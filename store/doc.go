// Package store is the home of Cairn's durable state: one subpackage per
// database (sqlite, postgres), each the only importer of its driver and
// the keeper of its SQL, sharing the decoding and encoding of rows and the
// logic no database decides (internal/sqlrow), all implementing
// scheduler.Store and storetest.Server and all running the conformance
// suites in storetest.
package store
