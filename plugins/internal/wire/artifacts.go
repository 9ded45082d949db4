package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnml/cairn"
	pb "github.com/cairnml/cairn/plugins/proto"
	"github.com/cairnml/cairn/tasks"
)

// chunkSize is how many artifact bytes one message carries.
const chunkSize = 256 << 10

// artifactServer is the host's Artifacts service: each running attempt's
// store, reachable only with that attempt's key and only while it runs.
type artifactServer struct {
	pb.UnimplementedArtifactsServer
	mu       sync.Mutex
	attempts map[string]tasks.Artifacts
}

func (s *artifactServer) register(key string, a tasks.Artifacts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[key] = a
}

func (s *artifactServer) unregister(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.attempts, key)
}

func (s *artifactServer) store(key string) (tasks.Artifacts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.attempts[key]
	if !ok {
		return nil, status.Error(codes.PermissionDenied, "artifact access refused: the attempt key is unknown or its attempt has ended")
	}
	return a, nil
}

func (s *artifactServer) Open(req *pb.OpenRequest, stream pb.Artifacts_OpenServer) error {
	a, err := s.store(req.GetAttemptKey())
	if err != nil {
		return err
	}
	ref := refOf(req.GetRef())
	if err := ref.Validate(); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	rc, err := a.Open(stream.Context(), ref)
	if err != nil {
		return statusOf(err)
	}
	defer rc.Close()
	buf := make([]byte, chunkSize)
	for {
		n, err := io.ReadFull(rc, buf)
		if n > 0 {
			if serr := stream.Send(&pb.Chunk{Data: buf[:n]}); serr != nil {
				return serr
			}
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return nil
		case err != nil:
			return statusOf(fmt.Errorf("read artifact %s: %w", ref.Digest, err))
		}
	}
}

func (s *artifactServer) Put(stream pb.Artifacts_PutServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	a, err := s.store(first.GetAttemptKey())
	if err != nil {
		return err
	}
	r := &chunkReader{next: first.GetData(), recv: func() ([]byte, error) {
		c, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return c.GetData(), nil
	}}
	ref, err := a.Put(stream.Context(), first.GetMediaType(), r)
	if err != nil {
		return statusOf(err)
	}
	return stream.SendAndClose(&pb.PutReply{Ref: pbRef(ref)})
}

// chunkReader reads a stream of byte chunks as one io.Reader.
type chunkReader struct {
	next []byte
	recv func() ([]byte, error)
	err  error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.next) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.next, r.err = r.recv()
	}
	n := copy(p, r.next)
	r.next = r.next[n:]
	return n, nil
}

// remoteArtifacts is the plugin's side of the artifact store: every call
// goes to the host, which verifies digests as it reads and stores.
type remoteArtifacts struct {
	client pb.ArtifactsClient
	key    string
}

var _ tasks.Artifacts = (*remoteArtifacts)(nil)

func (a *remoteArtifacts) Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := a.client.Open(ctx, &pb.OpenRequest{AttemptKey: a.key, Ref: pbRef(ref)})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open artifact %s: %w", ref.Digest, fromStatus(err))
	}
	// The first message tells whether the host could open it at all.
	c, err := stream.Recv()
	if err != nil && err != io.EOF {
		cancel()
		return nil, fmt.Errorf("open artifact %s: %w", ref.Digest, fromStatus(err))
	}
	r := &chunkReader{next: c.GetData(), recv: func() ([]byte, error) {
		c, err := stream.Recv()
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("read artifact %s: %w", ref.Digest, fromStatus(err))
			}
			return nil, err
		}
		return c.GetData(), nil
	}}
	if err == io.EOF {
		r.err = io.EOF
	}
	return &streamReadCloser{Reader: r, cancel: cancel}, nil
}

type streamReadCloser struct {
	io.Reader
	cancel context.CancelFunc
}

func (s *streamReadCloser) Close() error { s.cancel(); return nil }

func (a *remoteArtifacts) Put(ctx context.Context, mediaType string, r io.Reader) (cairn.ArtifactRef, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := a.client.Put(ctx)
	if err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("store artifact: %w", fromStatus(err))
	}
	buf := make([]byte, chunkSize)
	first := true
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 || first {
			msg := &pb.PutChunk{Data: buf[:n]}
			if first {
				msg.AttemptKey, msg.MediaType = a.key, mediaType
				first = false
			}
			if err := stream.Send(msg); err != nil {
				if errors.Is(err, io.EOF) { // the host refused: its status comes with CloseAndRecv
					break
				}
				return cairn.ArtifactRef{}, fmt.Errorf("store artifact: %w", fromStatus(err))
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return cairn.ArtifactRef{}, fmt.Errorf("store artifact: read: %w", rerr)
		}
	}
	reply, err := stream.CloseAndRecv()
	if err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("store artifact: %w", fromStatus(err))
	}
	return refOf(reply.GetRef()), nil
}
