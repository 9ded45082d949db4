package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnml/cairn"
	pb "github.com/cairnml/cairn/plugins/proto"
	"github.com/cairnml/cairn/tasks"
)

// maxLogChunk bounds one log event, well under gRPC's 4 MiB message limit.
const maxLogChunk = 1 << 20

// server serves a plugin's task types.
type server struct {
	pb.UnimplementedTaskServer
	version string
	types   map[string]tasks.Task
	names   []string
	broker  *goplugin.GRPCBroker

	mu    sync.Mutex
	conns map[uint32]*grpc.ClientConn // to the host's Artifacts, by broker id
	// running counts the attempts in progress and envHeld says one of
	// them has set environment variables: see claim.
	running int
	envHeld bool
}

func newServer(version string, ts []tasks.Task, broker *goplugin.GRPCBroker) (*server, error) {
	s := &server{version: version, types: map[string]tasks.Task{}, broker: broker, conns: map[uint32]*grpc.ClientConn{}}
	for _, t := range ts {
		name := t.Info().Name
		if name == "" {
			return nil, fmt.Errorf("task type %T has an empty name", t)
		}
		if _, dup := s.types[name]; dup {
			return nil, fmt.Errorf("task type %q is served twice", name)
		}
		s.types[name] = t
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	return s, nil
}

func (s *server) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeReply, error) {
	r := &pb.DescribeReply{PluginVersion: s.version, SetsEnv: true}
	for _, n := range s.names {
		t := s.types[n]
		b, err := json.Marshal(t.Info())
		if err != nil {
			return nil, status.Errorf(codes.Internal, "encode type %s: %v", n, err)
		}
		_, hasValidator := t.(tasks.ParamValidator)
		r.Types = append(r.Types, &pb.TypeDescription{InfoJson: b, HasValidator: hasValidator})
	}
	return r, nil
}

func (s *server) ValidateParams(ctx context.Context, req *pb.ValidateParamsRequest) (*pb.ValidateParamsReply, error) {
	t, ok := s.types[req.GetType()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "this plugin has no task type %q", req.GetType())
	}
	v, ok := t.(tasks.ParamValidator)
	if !ok {
		return &pb.ValidateParamsReply{}, nil
	}
	var params map[string]any
	if err := json.Unmarshal(req.GetParamsJson(), &params); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "params are not a JSON object: %v", err)
	}
	r := &pb.ValidateParamsReply{}
	for _, e := range v.ValidateParams(params) {
		r.Errors = append(r.Errors, &pb.ParamError{Key: e.Key, Msg: e.Msg, Hint: e.Hint})
	}
	return r, nil
}

// artifacts returns the client of the host's Artifacts service at id,
// dialling it once per process.
func (s *server) artifacts(id uint32) (pb.ArtifactsClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc, ok := s.conns[id]; ok {
		return pb.NewArtifactsClient(cc), nil
	}
	cc, err := s.broker.Dial(id)
	if err != nil {
		return nil, fmt.Errorf("dial the host's artifact service: %w", err)
	}
	s.conns[id] = cc
	return pb.NewArtifactsClient(cc), nil
}

func (s *server) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, cc := range s.conns {
		cc.Close()
		delete(s.conns, id)
	}
}

func (s *server) Run(stream pb.Task_RunServer) error {
	in, err := stream.Recv()
	if err != nil {
		return err
	}
	start := in.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "a Run stream must begin with a Start")
	}
	out := &sender{stream: stream}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	if start.GetDeadlineUnixNano() != 0 {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadline(ctx, time.Unix(0, start.GetDeadlineUnixNano()))
		defer cancelDeadline()
	}
	// The host sends a Cancel when the attempt's context ends; the stream
	// ending means the host is gone.
	go func() {
		for {
			in, err := stream.Recv()
			if err != nil {
				cancel(errors.New("the host closed the attempt"))
				return
			}
			if c := in.GetCancel(); c != nil {
				cancel(errors.New(c.GetCause()))
			}
		}
	}()

	task, ok := s.types[start.GetType()]
	if !ok {
		return out.send(&pb.RunEvent{Event: &pb.RunEvent_Failure{Failure: &pb.Failure{
			Kind: pb.Failure_PERMANENT, Message: fmt.Sprintf("this plugin has no task type %q", start.GetType()),
		}}})
	}
	arts, err := s.artifacts(start.GetArtifactsBrokerId())
	if err != nil {
		return out.send(&pb.RunEvent{Event: &pb.RunEvent_Failure{Failure: failureOf(err)}})
	}
	req := tasks.Request{
		RunID:   start.GetRunId(),
		TaskID:  start.GetTaskId(),
		Attempt: int(start.GetAttempt()),
		Params:  json.RawMessage(start.GetParamsJson()),
		WorkDir: start.GetWorkDir(),
	}
	if len(start.GetInputs()) > 0 {
		req.Inputs = make(map[string]cairn.ArtifactRef, len(start.GetInputs()))
		for k, r := range start.GetInputs() {
			req.Inputs[k] = refOf(r)
		}
	}
	env := tasks.Env{Log: out, Artifacts: &remoteArtifacts{client: arts, key: start.GetAttemptKey()}}
	res, err := s.runWithEnv(ctx, task, req, env, start.GetEnv())
	if err != nil {
		return out.send(&pb.RunEvent{Event: &pb.RunEvent_Failure{Failure: failureOf(err)}})
	}
	r := &pb.Result{Metrics: res.Metrics}
	if len(res.Outputs) > 0 {
		r.OutputsJson = make(map[string][]byte, len(res.Outputs))
		for k, v := range res.Outputs {
			r.OutputsJson[k] = v
		}
	}
	return out.send(&pb.RunEvent{Event: &pb.RunEvent_Result{Result: r}})
}

// runWithEnv runs the task with vars set in the process's environment,
// and puts the environment back as it was before the attempt's result is
// sent: once the host has the result it may send this process its next
// attempt, which must not see them.
//
// The environment is process-wide, which is safe because a plugin process
// serves one attempt at a time: the host's pool (plugins/proc.go,
// Host.acquire and Host.release) hands a process to one Run or
// ValidateParams call and takes it back only when that call is over.
// claim checks it rather than trusting it, since a server run in a test
// process (sdktest) has no such pool.
func (s *server) runWithEnv(ctx context.Context, task tasks.Task, req tasks.Request, env tasks.Env, vars map[string]string) (tasks.Result, error) {
	release, err := s.claim(len(vars) > 0)
	if err != nil {
		return tasks.Result{}, err
	}
	defer release()
	if len(vars) > 0 {
		restore, err := setEnv(vars)
		if err != nil {
			return tasks.Result{}, cairn.Permanent(err)
		}
		defer restore()
	}
	return safeRun(ctx, task, req, env)
}

// claim registers a running attempt. It refuses one that sets
// environment variables while another attempt runs in this process, and
// any attempt while one that set them runs: either would see variables
// given to another.
func (s *server) claim(setsEnv bool) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.envHeld || (setsEnv && s.running > 0) {
		return nil, errors.New("this plugin process is already running an attempt, and environment variables given by env: are process-wide: run attempts that use env: one at a time per process")
	}
	s.running++
	s.envHeld = setsEnv
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.running--
		if setsEnv {
			s.envHeld = false
		}
	}, nil
}

// safeRun runs the task, turning a panic into a *cairn.PanicError with the
// plugin's stack.
func safeRun(ctx context.Context, t tasks.Task, req tasks.Request, env tasks.Env) (res tasks.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &cairn.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return t.Run(ctx, req, env)
}

// sender serialises a Run stream's sends: the task's log writes and the
// final event. It is the task's Env.Log.
type sender struct {
	mu     sync.Mutex
	stream pb.Task_RunServer
}

var _ io.Writer = (*sender)(nil)

func (s *sender) send(ev *pb.RunEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(ev)
}

// Write streams p to the host's log of the attempt.
func (s *sender) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := p[:min(len(p), maxLogChunk)]
		if err := s.send(&pb.RunEvent{Event: &pb.RunEvent_Log{Log: c}}); err != nil {
			return n, fmt.Errorf("write log: %w", err)
		}
		n += len(c)
		p = p[len(c):]
	}
	return n, nil
}

func refOf(r *pb.ArtifactRef) cairn.ArtifactRef {
	return cairn.ArtifactRef{Digest: r.GetDigest(), Size: r.GetSize(), MediaType: r.GetMediaType()}
}

func pbRef(r cairn.ArtifactRef) *pb.ArtifactRef {
	return &pb.ArtifactRef{Digest: r.Digest, Size: r.Size, MediaType: r.MediaType}
}
