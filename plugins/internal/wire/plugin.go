package wire

import (
	"context"
	"errors"
	"sync"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/cairnml/cairn/plugins/proto"
	"github.com/cairnml/cairn/tasks"
)

// Plugin is the go-plugin plugin of a task plugin binary. On the plugin's
// side it serves Version and Tasks; on the host's side (where both are
// empty) it dispenses a *Client.
type Plugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Version string
	Tasks   []tasks.Task

	mu      sync.Mutex
	servers []*server
}

var _ goplugin.GRPCPlugin = (*Plugin)(nil)

// GRPCServer registers the Task service on the plugin's side.
func (p *Plugin) GRPCServer(broker *goplugin.GRPCBroker, s *grpc.Server) error {
	srv, err := newServer(p.Version, p.Tasks, broker)
	if err != nil {
		return err
	}
	pb.RegisterTaskServer(s, srv)
	p.mu.Lock()
	p.servers = append(p.servers, srv)
	p.mu.Unlock()
	return nil
}

// Close closes the plugin side's connections to the host's Artifacts
// service. A plugin process never needs it (they end with it); a server
// run inside a test process does.
func (p *Plugin) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.servers {
		s.close()
	}
}

// GRPCClient returns a *Client on the host's side and starts serving the
// Artifacts service over the broker. ctx ends when the plugin process
// exits.
func (p *Plugin) GRPCClient(ctx context.Context, broker *goplugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	if broker == nil {
		return nil, errors.New("plugin connection has no broker")
	}
	return newClient(broker, cc), nil
}
