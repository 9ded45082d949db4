// Package collect is the "collect" task type: it reads a data set from a
// source, infers its schema, and stores it as a CSV artifact for the next
// tasks (clean, split, train, ...).
//
// # Sources
//
//	source: file:///abs/path.csv      a file, its URL read as RFC 8089 reads
//	                                  it: file:///PATH or file://localhost/PATH
//	                                  (any other host fails: local files only),
//	                                  %XX escapes decoded (%20 a space, %25 a %).
//	                                  file:data/train.csv is a path relative to
//	                                  the working directory of the process
//	                                  running the task (the task request carries
//	                                  no workflow directory: write
//	                                  file://${{ workflow.dir }}/data/x.csv for
//	                                  data beside the workflow file).
//	                                  Regular files only: a FIFO, a device or a
//	                                  socket fails for good before any read.
//	source: https://host/data.csv     an http(s) GET, with timeout and max_bytes;
//	                                  redirects: same_origin (default: follow
//	                                  within the URL's scheme, host and port),
//	                                  any or none; the log names each redirect
//	                                  and the final URL
//	source: sql                       dsn:, query: and args: (SQLite or
//	                                  PostgreSQL; exactly one statement, read-
//	                                  only whatever the query or DSN; values
//	                                  bound from args:, a list for ? / $1 or a
//	                                  map for :name / @name, never spliced —
//	                                  a ${{ }} inside query: is refused at
//	                                  validation; run by the SQLQuerier the
//	                                  binary injects, store/sqlsource)
//	source: synthetic                 a seeded generator (package
//	                                  tasks/ml/synthetic): generator:
//	                                  classification | regression, rows,
//	                                  features, informative, classes, weights
//	                                  (imbalance), class_sep, label_noise,
//	                                  noise, missing_rate, drift_shift,
//	                                  drift_scale, drift_features, label, seed,
//	                                  sample (other rows of the seed's
//	                                  distribution; 0: the seed's own),
//	                                  at (the time the data stands for: a
//	                                  sample of its own), drift_since and
//	                                  drift_per_day (a drift that grows
//	                                  with at)
//
// Files and http bodies are CSV with a header row, or JSON Lines when
// format: jsonl is given, the name ends in .jsonl or .ndjson, or (http) the
// Content-Type says so (application/x-ndjson, application/jsonl, ...).
// Both are read by package dataset (kinds inferred: numeric, boolean,
// datetime, else categorical; "", NA, null and ? are missing; a NaN is not
// — it makes its column non-numeric, and train names it; ±Inf is refused),
// so the same rows in either format give the same bytes. A query
// result is typed the same way, each value from its text form, NULL
// missing. The params of one source are refused on another (query: with a
// file source, classes: with the regression generator, ...).
//
// # Outputs
//
//	data      the data set (text/csv), written by dataset.WriteCSV:
//	          deterministic bytes for the same rows
//	schema    dataset.Describe: {rows, columns: [{name, kind, missing,
//	          distinct | min, max, mean}]}
//	rows      number of rows
//	columns   number of columns
//
// Metrics: rows, columns, missing_values. The log says what was read (path
// or URL, format, bytes, their sha256) and the kind and missing count of
// each column.
//
// # Errors
//
// Permanent (retrying cannot help): bad params (an unknown source scheme
// gets the nearest known one suggested, "data.csv" gets "file:data.csv"; a
// file URL naming a host other than localhost, or with a bad %-escape);
// a file that does not exist, is a directory, a FIFO, a device or a socket,
// is not readable (permission) or is over max_bytes; a redirect the
// redirects param does not allow (to another origin, by default) or more
// than 10 redirects; an http status other than 2xx, 408, 425, 429 and
// 5xx (so a 404), a body over max_bytes, a web page (text/html) where data
// was expected, an untrusted TLS certificate; input that is not CSV or
// JSON Lines (binary, compressed, ragged rows, bad quoting: the error names
// the line), a source without rows; SQL errors the querier marks permanent
// (syntax, unknown table, a write or anything else that is not a read, a
// second statement, args that do not match the placeholders, an unknown
// DSN), two result columns of
// the same name; invalid synthetic settings.
//
// An unreachable source — a host name that does not resolve, a refused
// connection, no route to the host, for http and for a database — is
// permanent too: retrying does not mend a wrong address.
//
// Retryable (under the task's retry policy): other network errors (a reset
// connection), a timeout, http 408, 425, 429 and 5xx, other SQL connection
// failures, another I/O error reading a file, and cancellation.
package collect
