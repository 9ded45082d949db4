// Package split is the "split" task type: it splits a CSV data set (as
// dataset.WriteCSV writes it) into train, test and, optionally, validation
// parts, at random, stratified by a label column, or ordered by a time
// column, and reports the sizes and the class balance of each part.
//
// Params:
//
//	strategy: random          random (default), stratified or time
//	label: species            required for stratified; with any strategy,
//	                          the class balance of each part is reported
//	time_column: ts           required for time (and only allowed then); a
//	                          numeric or datetime column: the oldest rows
//	                          train, the newest test
//	test_size: 0.2            fraction of rows in test, in (0, 1)
//	validation_size: 0        fraction of rows in validation, in [0, 1);
//	                          test_size + validation_size < 1
//	seed: 0                   a non-negative integer; random and
//	                          stratified only
//
// Sizes are scikit-learn's train_test_split's: test ceil(test_size × rows),
// validation ceil(validation_size × rows), train the rest; stratified, the
// per-class counts are scikit-learn's too (a rare class can be absent from
// test); see package dataset for the exact rules. The
// input is read with dataset.ReadCSV (kinds inferred, ±Inf accepted) and
// each part written with dataset.WriteCSV, rows in their original order, so
// the same input bytes, params and seed give byte-identical outputs.
//
// Outputs:
//
//	train, test    CSV artifacts (text/csv), header included
//	validation     CSV artifact; when validation_size is 0 it holds the
//	               header only (every declared output is always produced)
//	rows           {"train": n, "test": n, "validation": n}
//	balance        with a label: {"label": ..., "train": {"rows": n,
//	               "counts": [{"class": ..., "count": n}, ...]}, "test":
//	               ..., "validation": ...}, classes ascending and listed in
//	               every part; a missing label counts as class "".
//	               Without a label: null.
//
// Metrics: train_rows, test_rows, validation_rows.
//
// Every problem with the input or the params is a permanent error: input
// that is not CSV (naming the line), an empty data set, a label or time
// column that does not exist (suggesting the nearest name) or has missing
// values where they cannot be placed, a time column that is neither numeric
// nor datetime, a class with fewer rows than parts or a part with fewer rows
// than classes (scikit-learn refuses both too). Failing
// to read the input or to store an output is retryable.
package split
