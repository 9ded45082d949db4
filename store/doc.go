// Package store is the home of Cairn's durable state: one subpackage per
// database (sqlite, and later postgres), each the only importer of its
// driver, all implementing scheduler.Store and all running the conformance
// suite in storetest.
package store
