// Package metrics is cairn server's /metrics for Prometheus: the
// Collector counts what the scheduler's broker and service report
// (scheduler.BrokerOptions.Observe, scheduler.ServiceOptions.Observe),
// reads the database's counts at each scrape, and writes everything in
// the text exposition format 0.0.4, every series named cairn_*.
//
// The format is written here, by hand (Writer, CounterVec, HistogramVec),
// rather than with prometheus/client_golang: a dozen families of
// counters, gauges and fixed-bucket histograms need about two hundred
// lines, where the client library would bring its own dependencies
// (client_model, common, procfs, protobuf descriptors) and a global
// registry the project's conventions rule out. What the format asks is
// kept here: HELP and TYPE before each family's samples, label values
// and help text escaped, histograms cumulative with the +Inf bucket,
// _sum and _count, counters that never go down. The tests check a real
// server's scrape with `promtool check metrics` (make deps takes it out of
// Debian's prometheus package).
//
// Standard library only, besides the scheduler's event types.
package metrics
