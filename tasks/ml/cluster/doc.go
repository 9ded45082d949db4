// Package cluster is k-means clustering for Cairn's example plugin
// (plugins/examples/kmeans): seeded k-means++ initialisation, Lloyd
// iterations, several restarts keeping the lowest inertia, on gonum's
// vectors.
//
// A fit is a pure function of the points and Options: randomness comes
// from a PCG generator (math/rand/v2) seeded from Options.Seed, sums run in
// row order, ties go to the lower index, and the clusters of the result
// are numbered in ascending lexicographic order of their centroids, so
// the same input gives the same bytes on every run, worker and platform
// (IEEE 754 arithmetic in a fixed order). An empty cluster is re-seeded
// with the point farthest from its centroid.
package cluster
