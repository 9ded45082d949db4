// Package plugins is the host side of plugin-loaded task types, and the
// only package (with its sub-packages) that imports hashicorp/go-plugin,
// grpc, protobuf and hclog.
//
// It owns the plugins folder and its lock file (Scan, Lock, LockFolder:
// sha256 pins in sha256sum's format), and the Host: Open scans the folder,
// refuses every binary that is not pinned or no longer matches its pin (all
// of them when there is no lock file), copies the pinned bytes as it hashes
// them into a cache next to the lock file (cache.go) and starts the copies,
// never the folder's files — go-plugin's SecureConfig hashing the copy
// again before every start, a versioned handshake, gRPC with AutoMTLS, a
// minimal environment, a parent-death signal — and asks each for its task
// types, adding to each the env:
// param through which a workflow gives one attempt environment variables
// (a type that declares env itself is reported and not served). Compose adds those types to
// the built-in registry; a type that is built in, or that two plugins
// claim, is reported instead. Problems with one entry never stop the
// others from loading.
//
// A plugin-served type is a tasks.Task like any other. Each attempt takes
// a warm process of its plugin (or starts one), writes the plugin's
// identity at the head of the attempt's log, sends the plugin's stderr to
// that log, and gives the process back afterwards; processes idle longer
// than Options.IdleTimeout stop, and Close stops them all. A crash, a
// protocol violation or a panic fails the attempt (retryably) and retires
// the process; a plugin that does not return within Options.KillGrace of
// its attempt's context ending is killed.
//
// The wire protocol is in plugins/proto and plugins/internal/wire, the
// author's side in plugins/sdk. docs/plugins.md is the user's guide.
package plugins
