// Package sdk is what a plugin author imports to serve task types from a
// separate binary. A plugin implements the same tasks.Task contract as the
// built-in types (Info describes the params, inputs and outputs; Run gets a
// context, the params as JSON, input artifacts and a log, and returns
// outputs or an error that is retryable, permanent with cairn.Permanent, or
// a panic) and calls Serve from main:
//
//	func main() {
//		sdk.Serve(sdk.Config{Version: "0.1.0", Tasks: []tasks.Task{hello{}}})
//	}
//
// Cairn starts the binary (only if its sha256 is pinned in the lock file),
// checks the protocol version in the handshake, asks it for its types and
// keeps it running between tasks. Artifacts are read and written through
// the host, which verifies every digest; the log streams to the host as the
// task writes it. The plugin's environment is minimal (PATH, HOME, TMPDIR,
// LANG): a task gets what it needs through its params, and a workflow can
// give one attempt environment variables with the env: param the host adds
// to every type, which Serve sets around Run and restores after it.
//
// Package sdktest runs a task through the real wire protocol in process,
// for the author's tests. docs/plugins.md is the walk-through.
package sdk
