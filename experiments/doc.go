// Package experiments compares runs: the params that differ between them
// (the run's and each task's resolved ones), their metrics side by side
// with the difference, and the tasks whose output artifacts differ
// (Compare); and ranks runs by a task's metric (Rank) for the runs list
// with metric columns. It is pure — the standard library and the
// vocabulary — so that the CLI on a home's database, the server's API and
// its experiments page compute the same answer from the same reads; the
// JSON shapes are the API's (docs/api.md).
//
// What it reads of a store is MetricsFilter's query (TaskMetrics, which
// store/sqlite and store/postgres implement) and the runs and task runs
// every store reads already.
package experiments
