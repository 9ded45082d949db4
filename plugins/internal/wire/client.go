package wire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/cairnml/cairn"
	pb "github.com/cairnml/cairn/plugins/proto"
	"github.com/cairnml/cairn/tasks"
)

// Client is the host's side of one plugin connection.
type Client struct {
	rpc    pb.TaskClient
	arts   *artifactServer
	broker *goplugin.GRPCBroker
	served chan struct{} // closed when every Artifacts server returned

	mu    sync.Mutex
	first *offer // kept until the broker closes
	offer *offer // the Artifacts server the next attempt names
	live  int    // offers whose server has not returned
	done  bool   // the first offer's server returned: the broker closed
}

// An offer is one Artifacts server of the host on the plugin
// connection's broker, under its own broker id. go-plugin sends the
// plugin its connection info at once and the plugin keeps it only 5 s
// (GRPCBroker.timeoutWait): a plugin that first dials the id later — its
// first attempt came more than 5 s after the process started, as the
// warm discovery process's often does — can never reach it. So an
// attempt names the offer the plugin connected to, or a fresh one if it
// never did and the current one is older than offerFresh; the plugin
// dials the id of each attempt's Start (once per id).
type offer struct {
	id   uint32
	at   time.Time
	used atomic.Bool // the plugin connected to it

	mu      sync.Mutex
	srv     *grpc.Server
	stopped bool
}

// offerFresh is how long an offer the plugin has not connected to is
// named in attempts: well within go-plugin's 5 s.
const offerFresh = 2 * time.Second

func newClient(broker *goplugin.GRPCBroker, cc *grpc.ClientConn) *Client {
	c := &Client{
		rpc:    pb.NewTaskClient(cc),
		arts:   &artifactServer{attempts: map[string]tasks.Artifacts{}},
		broker: broker,
		served: make(chan struct{}),
	}
	// The first offer is kept until the broker closes (its return says
	// so: Served); later ones are stopped when a newer one replaces them
	// unused.
	c.mu.Lock()
	c.first = c.serve()
	c.offer = c.first
	c.mu.Unlock()
	return c
}

// serve offers an Artifacts server on a new broker id; c.mu is held.
func (c *Client) serve() *offer {
	o := &offer{id: c.broker.NextId(), at: time.Now()}
	c.live++
	go func() {
		defer func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.live--
			if o == c.first {
				c.done = true
			}
			if c.done && c.live == 0 {
				close(c.served)
			}
		}()
		c.broker.AcceptAndServe(o.id, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(append(opts, grpc.StatsHandler(connSeen{&o.used}))...)
			pb.RegisterArtifactsServer(s, c.arts)
			o.mu.Lock()
			o.srv = s
			if o.stopped {
				s.Stop() // Serve returns at once
			}
			o.mu.Unlock()
			return s
		})
	}()
	return o
}

// stop stops an offer's server.
func (o *offer) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopped = true
	if o.srv != nil {
		o.srv.Stop()
	}
}

// artifactsID is the broker id of the Artifacts server an attempt names.
func (c *Client) artifactsID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.offer
	if c.done || o.used.Load() || time.Since(o.at) < offerFresh {
		return o.id // (once the broker closed, the attempt fails anyway)
	}
	if o != c.first {
		o.stop()
	}
	c.offer = c.serve()
	return c.offer.id
}

// connSeen marks its offer used when the plugin connects.
type connSeen struct{ used *atomic.Bool }

func (connSeen) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (connSeen) HandleRPC(context.Context, stats.RPCStats)                         {}
func (connSeen) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (h connSeen) HandleConn(_ context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnBegin); ok {
		h.used.Store(true)
	}
}

// Served is closed once the client's Artifacts servers have stopped, which
// happens when the plugin connection's broker closes.
func (c *Client) Served() <-chan struct{} { return c.served }

// Type is a task type as the plugin describes it.
type Type struct {
	Info         cairn.TypeInfo
	HasValidator bool
	// SetsEnv: the plugin's SDK sets Start.env for the attempt (false
	// for plugins built before it could).
	SetsEnv bool
}

// Describe asks the plugin for its version and task types.
func (c *Client) Describe(ctx context.Context) (version string, types []Type, err error) {
	r, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return "", nil, fmt.Errorf("describe: %w", err)
	}
	for _, d := range r.GetTypes() {
		var info cairn.TypeInfo
		if err := json.Unmarshal(d.GetInfoJson(), &info); err != nil {
			return "", nil, &ProtocolError{Msg: fmt.Sprintf("type description is not a TypeInfo: %v", err)}
		}
		types = append(types, Type{Info: info, HasValidator: d.GetHasValidator(), SetsEnv: r.GetSetsEnv()})
	}
	return r.GetPluginVersion(), types, nil
}

// ValidateParams runs the plugin's validator of type typ on params.
func (c *Client) ValidateParams(ctx context.Context, typ string, params map[string]any) ([]tasks.ParamError, error) {
	b, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	r, err := c.rpc.ValidateParams(ctx, &pb.ValidateParamsRequest{Type: typ, ParamsJson: b})
	if err != nil {
		return nil, fmt.Errorf("validate params: %w", err)
	}
	var out []tasks.ParamError
	for _, e := range r.GetErrors() {
		out = append(out, tasks.ParamError{Key: e.GetKey(), Msg: e.GetMsg(), Hint: e.GetHint()})
	}
	return out, nil
}

// Run runs one attempt of type typ in the plugin, with the environment
// variables vars set in the plugin's process for its duration (they
// travel in the Start, not in req.Params). The task's log goes to
// env.Log and its artifact calls to env.Artifacts. When ctx ends the plugin
// is told to cancel; if it has not answered grace later, Run returns an
// *UnresponsiveError (the caller should kill the process). A broken
// stream is a *TransportError, a malformed answer a *ProtocolError; the
// task's own errors come back as a *TaskError holding them retryable,
// permanent or as a *cairn.PanicError, as it returned them, and a ctx
// that ended before anything was sent as a *NotStartedError. Only after a
// nil error, a *TaskError or a *NotStartedError is the plugin done with
// the attempt; after any other error (a log that cannot be written, say)
// it may still be running it, and the process must not serve again.
func (c *Client) Run(ctx context.Context, typ string, req tasks.Request, env tasks.Env, vars map[string]string, grace time.Duration) (tasks.Result, error) {
	key, err := newKey()
	if err != nil {
		return tasks.Result{}, err
	}
	c.arts.register(key, env.Artifacts)
	defer c.arts.unregister(key)

	start := &pb.Start{
		Type: typ, RunId: req.RunID, TaskId: req.TaskID, Attempt: int32(req.Attempt),
		ParamsJson: req.Params, WorkDir: req.WorkDir,
		ArtifactsBrokerId: c.artifactsID(), AttemptKey: key, Env: vars,
	}
	if d, ok := ctx.Deadline(); ok {
		start.DeadlineUnixNano = d.UnixNano()
	}
	if len(req.Inputs) > 0 {
		start.Inputs = make(map[string]*pb.ArtifactRef, len(req.Inputs))
		for k, r := range req.Inputs {
			start.Inputs[k] = pbRef(r)
		}
	}
	if ctx.Err() != nil {
		// Nothing started yet: no need to bother the plugin.
		return tasks.Result{}, &NotStartedError{Cause: context.Cause(ctx)}
	}

	// The stream lives on past ctx for the grace period, so that the
	// plugin can stop cleanly and say how the attempt ended.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	stream, err := c.rpc.Run(sctx)
	if err != nil {
		return tasks.Result{}, &TransportError{Err: err}
	}
	if err := stream.Send(&pb.RunInput{Input: &pb.RunInput_Start{Start: start}}); err != nil {
		return tasks.Result{}, &TransportError{Err: err}
	}

	type received struct {
		ev  *pb.RunEvent
		err error
	}
	events := make(chan received)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			ev, err := stream.Recv()
			select {
			case events <- received{ev, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer wg.Wait()
	defer scancel() // runs before wg.Wait: ends the receiver

	done := ctx.Done()
	var graceC <-chan time.Time
	for {
		select {
		case r := <-events:
			if r.err != nil {
				if r.err == io.EOF {
					return tasks.Result{}, &ProtocolError{Msg: "the attempt's stream ended without a result"}
				}
				if status.Code(r.err) == codes.ResourceExhausted {
					return tasks.Result{}, &ProtocolError{Msg: fmt.Sprintf("a message of the attempt is over %d bytes (%v): write a large result as an artifact", MaxMessageBytes, r.err)}
				}
				return tasks.Result{}, &TransportError{Err: r.err}
			}
			switch ev := r.ev.GetEvent().(type) {
			case *pb.RunEvent_Log:
				if _, err := env.Log.Write(ev.Log); err != nil {
					return tasks.Result{}, fmt.Errorf("write the attempt's log: %w", err)
				}
			case *pb.RunEvent_Result:
				return resultOf(ev.Result)
			case *pb.RunEvent_Failure:
				err := errorOf(ctx, ev.Failure)
				if _, bad := err.(*ProtocolError); bad {
					return tasks.Result{}, err
				}
				return tasks.Result{}, &TaskError{Err: err}
			default:
				return tasks.Result{}, &ProtocolError{Msg: fmt.Sprintf("event of unknown kind %T", ev)}
			}
		case <-done:
			done = nil
			_ = stream.Send(&pb.RunInput{Input: &pb.RunInput_Cancel{Cancel: &pb.Cancel{Cause: context.Cause(ctx).Error()}}})
			t := time.NewTimer(grace)
			defer t.Stop()
			graceC = t.C
		case <-graceC:
			return tasks.Result{}, &UnresponsiveError{Grace: grace, Cause: context.Cause(ctx)}
		}
	}
}

// The bounds of a plugin's result: each value output as a shell value's
// (tasks.MaxValueBytes), and the number of outputs and metrics. An
// attempt's message from the plugin is bounded as a worker's completion
// is (MaxMessageBytes; go-plugin's own receive limit is 2 GiB).
const (
	MaxOutputs      = 256
	MaxMetrics      = 1000
	MaxMessageBytes = 64 << 20
)

func resultOf(r *pb.Result) (tasks.Result, error) {
	if n := len(r.GetOutputsJson()); n > MaxOutputs {
		return tasks.Result{}, &ProtocolError{Msg: fmt.Sprintf("%d outputs, at most %d", n, MaxOutputs)}
	}
	if n := len(r.GetMetrics()); n > MaxMetrics {
		return tasks.Result{}, &ProtocolError{Msg: fmt.Sprintf("%d metrics, at most %d", n, MaxMetrics)}
	}
	res := tasks.Result{Metrics: r.GetMetrics()}
	if len(r.GetOutputsJson()) > 0 {
		res.Outputs = make(map[string]json.RawMessage, len(r.GetOutputsJson()))
		for k, v := range r.GetOutputsJson() {
			if len(v) > tasks.MaxValueBytes {
				return tasks.Result{}, &ProtocolError{Msg: fmt.Sprintf("output %q is %d bytes, over the %d of a value output: write a larger result as an artifact", k, len(v), tasks.MaxValueBytes)}
			}
			if !json.Valid(v) {
				return tasks.Result{}, &ProtocolError{Msg: fmt.Sprintf("output %q is not valid JSON: %.80q", k, v)}
			}
			res.Outputs[k] = json.RawMessage(v)
		}
	}
	return res, nil
}

func newKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make attempt key: %w", err)
	}
	return hex.EncodeToString(b), nil
}
