// Package features is the leakage-safe preprocessing of Cairn's model
// pipeline: Fit learns imputation, standardization and one-hot encoding
// from the training split only, and the resulting Transformer applies that
// fitted state, unchanged, to any frame (train, test, new rows), giving the
// gonum *mat.Dense (one row per sample) the model packages take.
//
// Everything is pure and deterministic: no I/O, no clock, no randomness,
// no package state, no map-order dependence. Bad input comes back as an
// error wrapping one of the sentinels in errors.go; errors about one
// column are *ColumnError values naming it.
//
// # Features
//
// The features are all columns of the fitted frame except Spec.Label and
// Spec.Exclude, in frame order. Per kind:
//
//   - numeric: one feature; missing values imputed (default mean), then
//     standardized when Spec.Standardize is set: x' = (x - mean) / std with
//     the mean and population standard deviation of the imputed training
//     column, like scikit-learn's SimpleImputer then StandardScaler. A
//     constant column gets scale 1 (so x' = 0 on the training data).
//   - datetime: Unix seconds (UTC, fractional), then as numeric.
//   - boolean: one 0/1 feature, imputed (default most frequent), never
//     standardized.
//   - categorical: imputed (default most frequent), then one-hot encoded,
//     one 0/1 feature "name=category" per distinct value of the imputed
//     training column, sorted by byte order, never standardized. A
//     category Fit did not see encodes as all zeros (scikit-learn's
//     OneHotEncoder(handle_unknown="ignore")). With Constant imputation,
//     the constant is a category only if the training column had a
//     missing value.
//
// Feature names are not checked for collisions (a numeric column called
// "c=x" next to a categorical c with category x).
//
// # Labels
//
// Fit requires the label column and no missing label. It records the
// sorted distinct label values as Transformer.Classes when the label is
// categorical, boolean or a number with only integer values (so an
// integer-valued regression target also gets a class list, unused by
// TargetValues). ClassLabels maps a frame's label to indices into that list
// and rejects a value not seen in training; TargetValues returns a
// numeric or boolean label as float64.
//
// # Serialization
//
// Transformer holds only slices and scalars with JSON tags; encoding/json
// encodes it to the same bytes every time, and float64 values round-trip
// exactly, so a decoded Transformer transforms identically. Transform
// checks a decoded Transformer for consistency (version, kinds, sorted
// categories, positive finite scales) and fails with ErrShape otherwise.
package features
