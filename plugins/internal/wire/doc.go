// Package wire is the gRPC side of Cairn's plugin protocol, shared by the
// host (package plugins) and the SDK (package plugins/sdk): the go-plugin
// handshake and plugin set, the Task service a plugin serves, the
// Artifacts service the host serves back over go-plugin's GRPCBroker, and
// the translation of tasks.Request, tasks.Result, logs and errors to and
// from the messages of plugins/proto.
//
// One Run RPC is one attempt, a bidirectional stream: the host sends a
// Start (params as JSON, inputs as artifact references, the attempt's
// deadline, the broker id and a per-attempt key for the Artifacts
// service, the environment variables of the task's env: param, which
// Adapt takes out of the params and the plugin side sets for the attempt
// only), and a Cancel when the attempt's context ends; the plugin
// streams the task's log and ends with one Result or Failure. Failures
// keep the retryable, permanent and panic distinction; a broken stream, a
// plugin that does not answer within the grace period after a Cancel, or
// a malformed answer come back as *TransportError, *UnresponsiveError or
// *ProtocolError, after which the host retires the process.
package wire
