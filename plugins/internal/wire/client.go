package wire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/cairnml/cairn"
	pb "github.com/cairnml/cairn/plugins/proto"
	"github.com/cairnml/cairn/tasks"
)

// Client is the host's side of one plugin connection.
type Client struct {
	rpc      pb.TaskClient
	arts     *artifactServer
	brokerID uint32
	served   chan struct{} // closed when the Artifacts server returned
}

func newClient(broker *goplugin.GRPCBroker, cc *grpc.ClientConn) *Client {
	c := &Client{
		rpc:      pb.NewTaskClient(cc),
		arts:     &artifactServer{attempts: map[string]tasks.Artifacts{}},
		brokerID: broker.NextId(),
		served:   make(chan struct{}),
	}
	go func() {
		defer close(c.served)
		broker.AcceptAndServe(c.brokerID, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(opts...)
			pb.RegisterArtifactsServer(s, c.arts)
			return s
		})
	}()
	return c
}

// Served is closed once the client's Artifacts server has stopped, which
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
		ArtifactsBrokerId: c.brokerID, AttemptKey: key, Env: vars,
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

func resultOf(r *pb.Result) (tasks.Result, error) {
	res := tasks.Result{Metrics: r.GetMetrics()}
	if len(r.GetOutputsJson()) > 0 {
		res.Outputs = make(map[string]json.RawMessage, len(r.GetOutputsJson()))
		for k, v := range r.GetOutputsJson() {
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
