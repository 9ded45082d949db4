package wire

import (
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/cairnml/cairn/tasks"
)

// Serve is what a plugin binary's main runs: it serves ts as version
// `version` of a plugin speaking wire protocol `protocol` (ProtocolVersion,
// except in tests of the handshake). It returns only when the host ends
// the plugin; run by hand, it explains that it is a plugin and exits 1.
func Serve(version string, protocol int, ts []tasks.Task) {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake(protocol),
		VersionedPlugins: map[int]goplugin.PluginSet{
			protocol: {PluginName: &Plugin{Version: version, Tasks: ts}},
		},
		GRPCServer: goplugin.DefaultGRPCServer,
		// go-plugin's own chatter would land in every task log: keep
		// only its errors.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr}),
	})
}
