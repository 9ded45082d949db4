package wire

import (
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ProtocolVersion is the version of the wire protocol this build speaks:
// go-plugin's handshake refuses a plugin built for another one.
const ProtocolVersion = 1

// PluginName is the name of the one plugin each binary serves in
// go-plugin's plugin set.
const PluginName = "tasks"

// Handshake is the go-plugin handshake for protocol version v. The magic
// cookie only tells a plugin it was started by cairn (a person running the
// binary by hand gets a message instead); it is not a security measure.
func Handshake(v int) goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  uint(v),
		MagicCookieKey:   "CAIRN_PLUGIN",
		MagicCookieValue: "8f1d0c2e-task-types",
	}
}

// PluginSets is what a host offers go-plugin: the task plugin, under the
// protocol versions it speaks.
func PluginSets() map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		ProtocolVersion: {PluginName: &Plugin{}},
	}
}

// DialOptions are the host's options of its connection to a plugin, after
// go-plugin's: a message from the plugin is at most MaxMessageBytes (a
// larger one fails the call it answers, the process unread).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes))}
}
