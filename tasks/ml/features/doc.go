// Package features is the leakage-safe preprocessing of Cairn's model
// pipeline: Fit learns imputation, outlier clipping, standardization and
// one-hot encoding from the training split only, and the resulting Transformer applies that
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
//     clipped when Spec.Clip is set (see Clipping), then standardized when
//     Spec.Standardize is set: x' = (x - mean) / std with the mean and
//     population standard deviation of the imputed (and clipped) training
//     column, like scikit-learn's SimpleImputer then StandardScaler. A
//     constant column gets scale 1 (so x' = 0 on the training data).
//   - datetime: Unix seconds (UTC, fractional), then as numeric.
//   - boolean: one 0/1 feature, imputed (default most frequent), never
//     clipped or standardized.
//   - categorical: imputed (default most frequent), then one-hot encoded,
//     one 0/1 feature "name=category" per distinct value of the imputed
//     training column, sorted by byte order, never clipped or
//     standardized. A
//     category Fit did not see encodes as all zeros (scikit-learn's
//     OneHotEncoder(handle_unknown="ignore")). With Constant imputation,
//     the constant is a category only if the training column had a
//     missing value.
//
// # Clipping
//
// Spec.Clip winsorizes numeric and datetime features: Fit learns per
// feature the bounds [low, high] from the imputed training column, and
// Transform clamps every value, raw or filled, to them before
// standardizing. The bounds are stored in the Transformer (Feature.Clip),
// so a test frame's outliers are clipped to the training bounds and no
// statistic of it is used. The methods:
//
//   - IQR: [Q1 - K·IQR, Q3 + K·IQR] with IQR = Q3 - Q1 and K default 1.5
//     (Tukey's fences). A column whose middle half is one value (IQR 0)
//     is clipped to [Q1, Q3].
//   - Quantile: [the Low quantile, the High quantile], e.g. 0.01 and 0.99.
//
// Quantiles are numpy.quantile's default (method "linear"): with the n
// values sorted, h = (n-1)·q and linear interpolation between the order
// statistics ⌊h⌋ and ⌊h⌋+1, computed as numpy does, so the bounds equal
// numpy's bit for bit (testdata/quantiles.json). The imputed column is
// used, so every row counts, a missing one as its fill value. The order
// impute → clip → standardize means the center and scale are those of
// the clipped column. An invalid Clip is an ErrSpec error from Fit;
// bounds that overflow are ErrNonFinite.
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
// Transformer holds only slices, scalars and pointers to plain structs
// with JSON tags; encoding/json encodes it to the same bytes every time,
// and float64 values round-trip exactly, so a decoded Transformer
// transforms identically. The clipping fields (Transformer.Clip,
// Feature.Clip) are omitted when nil, so a pipeline without clipping
// encodes as it did before clipping existed (testdata/unclipped_*.json),
// and so does a Spec with the zero Clip. Transform checks a decoded
// Transformer for consistency (version, kinds, sorted categories, positive
// finite scales, finite ordered clipping bounds on exactly the numeric and
// datetime features of a clipping transformer) and fails with ErrShape
// otherwise.
package features
