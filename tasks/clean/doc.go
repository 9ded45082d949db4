// Package clean is the clean task type: row-level cleaning of a CSV data set
// before it is split.
//
// # Row-level only
//
// Every decision clean makes about a row depends on that row alone and on
// fixed params: it never learns a statistic (a mean, a median, a quantile, a
// scale) from the data. Rows cleaned here may end up in the test split, and
// anything learnt from them would leak into the model. Imputation,
// standardization, encoding and any other fitted transformation belong to
// the train task's pipeline, which fits them on the train split only.
//
// For the same reason there is no data-driven outlier clipping (IQR,
// quantiles) here: bounds computed from the whole input would be learnt
// from test rows too. It is train's (and tune's) `clip_outliers: iqr` or
// `{method: quantile, low: 0.01, high: 0.99}`, whose bounds are learnt from
// the train split only, kept in the model and applied to the test rows
// (see tasks/ml/features). Here, use value-range rules with fixed,
// domain-known bounds (`rules: [{column: age, min: 0, max: 120, action:
// drop}]`).
//
// # Steps
//
// The steps run in this fixed order, each on the rows the previous ones
// kept; a row dropped is counted once, by the step that dropped it:
//
//  1. read: the `data` input is read as CSV (dataset.ReadCSV rules: header
//     row, RFC 4180 quoting, LF or CRLF, a leading BOM skipped). A file that
//     is not such a CSV fails with the line number of the fault.
//  2. trim (`trim`, default true): leading and trailing white space is
//     removed from every field, before typing, so that " 5.1" reads as a
//     number and " red" equals "red". Values changed are counted per column.
//     Then a field that is empty or one of "NA", "null", "?" is missing
//     (dataset.DefaultMissing; a "NaN" is not missing: it is reported by
//     the ML tasks, not imputed in silence).
//  3. drop_missing_label: rows whose label column is missing are dropped.
//  4. drop_missing: rows missing any of the listed columns are dropped.
//  5. types: each listed column is coerced to its kind (numeric,
//     categorical, boolean, datetime, parsed as package dataset parses
//     them; ±Inf and NaN are not numbers here). A row holding a value that
//     does not parse is dropped and counted, or the task fails naming its
//     line if `strict` is true. Values whose written form changes ("5.0" →
//     "5", "yes" → "true") are counted as coerced. The other columns get
//     the kind dataset.ReadCSV would infer from the rows kept.
//  6. drop_duplicates (default false): rows equal to an earlier row in
//     every column (after typing, so "5.0" equals "5") are dropped; the
//     first is kept.
//  7. rules: value-range rules on numeric columns, in the order given.
//     `clip` moves a value below min up to min and one above max down to
//     max; `drop` drops the row. Each rule sees the value as earlier rules
//     left it; a row that a rule drops keeps none of its clips (they are
//     not counted). Missing values are left alone.
//
// # Report
//
// The `report` output is a JSON object: rows_in, rows_out, rows_dropped;
// dropped_by_step (step name -> rows); steps, one object per enabled step
// in order, with rows_dropped, first_lines (input line numbers of the
// first ten rows it dropped) and, per column, values_trimmed (trim),
// missing_values (drop_missing_label, drop_missing), invalid_values and
// values_coerced (types), values_clipped and rows_dropped_by_column
// (rules); and columns, the output's name, kind and missing count. Maps
// are written with sorted keys, so the report is deterministic too. The
// metrics are rows_in, rows_out and rows_dropped.
//
// The `data` output is the cleaned frame written by dataset.WriteCSV
// (canonical numbers, RFC 3339 UTC datetimes, true/false, missing values
// empty), so the same input bytes and params give the same output bytes.
// The `report` output says exactly what each step changed.
//
// # Errors
//
// All of these are permanent: params that do not decode or check (an
// unknown kind or action, min > max, a rule without bounds), an input that
// is not a readable CSV, a column named in params that the input lacks (the
// nearest name is suggested), a rule on a column that is not numeric, a
// column not in `types` whose values are all numbers but one is infinite, an
// input without rows, and no rows left after cleaning (naming the step that
// removed the most). A store that fails to read or write is retryable.
package clean
