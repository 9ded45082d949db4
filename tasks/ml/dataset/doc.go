// Package dataset is the in-memory table Cairn's ML tasks (collect, clean,
// split, train, evaluate) exchange, and its storage between tasks: a CSV
// artifact (WriteCSV, ReadCSV) plus a JSON schema (Describe, Schema.Kinds).
// It also holds the seeded row splits of the split task.
//
// Everything is pure and deterministic: no clock, no package state, no
// map-order dependence, no goroutines. Bad input comes back as an error
// wrapping one of the sentinels in errors.go; errors about a place in an
// input file are *ParseError values with the 1-based line number (the line
// where the record starts) and the column name.
//
// # Frames
//
// A Frame is a list of named, typed columns of equal length. Numeric,
// Boolean (0/1) and Datetime (Unix seconds, UTC, fractional) values live in
// Column.Num, Categorical values in Column.Str; Column.Missing marks missing
// rows (nil: none).
//
// # Reading and type inference
//
// A field is missing when it is empty or equals one of ReadOptions.Missing
// (default "", "NA", "null", "?" — not "NaN", see DefaultMissing; exact,
// case-sensitive match;
// fields are never trimmed — trimming is the clean task's job). Each column
// without a kind in ReadOptions.Schema gets the first kind all of its
// non-missing values parse as:
//
//  1. Numeric: every value is a number as written, one WriteCSV writes
//     back as the same value: a plain decimal (sign, digits, optional
//     point and exponent; Go's hexadecimal floats such as 0x1p-2 too) that
//     strconv.ParseFloat reads and that is not NaN. So a column of 0s and
//     1s is Numeric, not Boolean (breast_cancer.csv's label stays a
//     number). Kept as text instead (the column infers Categorical, its
//     spellings unchanged): a value with a leading zero a number would
//     drop (007, -007, 00.5, 0012345678901234567 — but 0, 0.5, -0.25 and
//     0e3 are numbers), an integer written without point or exponent that
//     a float64 cannot hold exactly (beyond 2^53 = 9007199254740992 unless
//     its digits are exactly a float64's, as 2^60's are; so a 17- or
//     20-digit id keeps every digit, and a 400-digit one is text, not
//     +Inf), a value written without an exponent that WriteCSV would write
//     with one (magnitude 1e21 or more, or under 1e-30), a value too
//     small for a float64 (1e-400 would read as 0) and digit separators
//     (1_000). A decimal with more significant
//     digits than a float64 holds (about 16) is a number rounded to the
//     nearest float64, as every float64 reader does. A NaN literal that
//     is not in the missing list ("NaN", "nan") makes the column
//     non-numeric.
//     ±Inf ("Inf", "-inf", "Infinity", or an overflowing literal such as
//     1e999) is an error (ErrNonFinite) unless ReadOptions.AllowInf is set.
//  2. Boolean: every value is exactly true or false, the spelling WriteCSV
//     writes, so the column is written back as the user wrote it. Other
//     spellings (yes/no, Y/N, True/FALSE, a mix with 1/0) infer as
//     Categorical and keep their spellings: a label of yes and no has the
//     classes "no" and "yes", not false and true. A column declared Boolean
//     (ReadOptions.Schema, the clean task's types:) accepts true, false,
//     yes, no (any case), 1 and 0, and is written as true/false.
//  3. Datetime: every value parses as RFC 3339 (with any fractional
//     seconds and zone), "2006-01-02" or "2006-01-02 15:04:05"; the last two
//     are UTC.
//  4. Categorical otherwise.
//
// A column with no non-missing value (or no rows) is Numeric, since every
// value vacuously parses. With an explicit kind, a value that does not
// parse as that kind is an error (ErrType) naming the line and column; a
// categorical kind accepts anything, a numeric kind any number
// strconv.ParseFloat reads (007 is then 7: the caller asked for it).
//
// ReadJSONL types the text of each JSON scalar the same way, so the two
// formats agree; its columns come in first-seen key order.
//
// # Writing
//
// WriteCSV's bytes depend only on the frame: numbers from 1e-30 up to (not
// including) 1e21 in magnitude, and 0, in plain decimal notation, never
// with an exponent (integers with every digit, 2500000 not 2.5e+06; other
// numbers with the fewest digits that read back as the same float64, so
// 1.50 comes back as 1.5 — the same value, the trailing zero not kept —
// and 0.00001 stays 0.00001); numbers outside that range, which inference
// only reads from an exponent form, in the shortest exponent form (1e+300,
// not 301 digits); booleans true/false, datetimes RFC 3339 UTC,
// missing values empty, LF line endings, minimal RFC 4180 quoting. Reading
// them back with the frame's kinds (Describe(f).Kinds()) reproduces the
// frame exactly, with the exceptions listed on WriteCSV; read with
// inference, they give the same kinds for the columns ReadCSV inferred
// (what is written as a number is inferred as one again).
//
// # Splits
//
// RandomSplit, StratifiedSplit and TimeSplit return row indices, each part
// sorted ascending. Sizes are ceil(frac·n) for test and validation, the
// rest for train, as scikit-learn's train_test_split computes them; every
// part must get at least one row. Randomness comes from a PCG generator (math/rand/v2)
// seeded through SplitMix64 from the seed, driving a Fisher–Yates shuffle
// written in this package with Lemire's bounded integers, so a seed gives
// the same split on every platform and Go release. StratifiedSplit shuffles
// each class (ascending label order) from that one stream; its per-class
// counts are scikit-learn's (_approximate_mode), checked against
// testdata/golden_split.json (testdata/gen_golden.py).
package dataset
