// Package serve answers cairn server's predictions: POST
// /api/v1/models/{name}/predict (the route is package ui's; this package
// is what it calls, through ui.Models).
//
// # Which version
//
// A request is answered by the model's production version, or by the
// version it pins (?version=N, any stage). Models are read from their
// artifacts through the artifact store, which verifies the digest: a
// corrupt, missing or unreadable artifact is never served (503
// model_unavailable, naming the digest), and when the production version
// changes to one that does not load, the version served before goes on
// being served (the log says so, and tries again every Retry). A loaded
// model is kept by digest. Start loads every model's production version
// in the background, so that a restarted server's first requests do not
// wait for the artifacts to be read.
//
// The version served for a name sits behind an atomic pointer: a request
// takes it once and uses it to its end, so a switch never fails or mixes
// a request in flight, and every answer's "version" is the version whose
// predictions it holds. A switch is seen at once when this process
// promotes (Refresh, Changed), and within Poll (500 ms) when another
// process does: the poll reads one number, the registry's newest stage
// change (Registry.ModelStageSeq), and reads production versions only
// when it moved — no read of the registry per request.
//
// # Rows
//
// The body is read in one pass into the model's columns, with the
// model's kinds: numeric columns take JSON numbers, categorical ones
// strings, boolean ones true or false, datetime ones strings (RFC 3339,
// "2024-01-02" or "2024-01-02 15:04:05"). null is a missing value, which
// the model's pipeline imputes as it did in training; so is a string
// that data sets read as missing ("", "NA", "null", "?") in a categorical
// or datetime column. Every row gives every feature column; the label
// column may be given and is ignored; any other column is refused. Every
// refusal is a 400 naming the row (its index in rows, from 0) and the
// column. Every byte of a body is read within a budget shared by all
// requests (MaxBodyBytes per CPU, at least 2, taken 64 KiB at a time), so
// that many requests at once take bounded memory: a body's first MiB
// within one, the rest of a larger body within another, so that small
// bodies never wait behind large ones.
//
// # The sample log
//
// With Options.SampleDir and SampleRate, each row is kept with
// probability SampleRate and appended to SampleDir/NAME/samples.jsonl:
// JSON Lines, one object per row — cairn_time (RFC 3339, UTC), cairn_version,
// then the model's feature columns in its order, each value as the
// request wrote it — which package dataset reads (ReadJSONL) as a data
// set. Past SampleMaxBytes the file becomes samples.1.jsonl (replacing
// the previous one) and a new one starts. Requests never wait for the
// disk: their rows go to a buffer of SampleBuffer bytes that a goroutine
// writes every second; rows that find it full are dropped and counted
// (EventSamplesDropped). Stop writes what is left.
package serve
