package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
)

// Logs is the worker's log store (executor.Logs): each attempt's log is
// streamed to the server as it is written, in one request that begins
// with the first byte (an attempt that prints nothing sends nothing) and
// ends when the log is closed, once the server has it all.
func (c *Client) Logs() *LogStreams { return &LogStreams{c: c} }

// LogStreams streams attempts' logs to the server.
type LogStreams struct{ c *Client }

// Create returns the log of an attempt this worker leased.
func (l *LogStreams) Create(runID, taskID string, attempt int) (io.WriteCloser, error) {
	lease, ok := l.c.leaseOf(runID, taskID, attempt)
	if !ok {
		return nil, fmt.Errorf("log of %s/%s#%d: not a lease of this worker", runID, taskID, attempt)
	}
	return &logStream{c: l.c, lease: lease}, nil
}

// logStream is one attempt's log on its way to the server. A stream the
// server or the network broke off is reported once in the worker's log
// and the rest of the attempt's output is dropped: the attempt goes on.
type logStream struct {
	c     *Client
	lease cairn.Lease

	mu     sync.Mutex
	pw     *io.PipeWriter
	done   chan error // the request's outcome
	broken error
	closed bool
}

func (s *logStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errors.New("write to a closed log")
	}
	if s.broken != nil || len(p) == 0 {
		return len(p), nil
	}
	if s.pw == nil {
		s.open()
	}
	if _, err := s.pw.Write(p); err != nil {
		s.fail(err)
	}
	return len(p), nil
}

// open starts the request whose body is the log.
func (s *logStream) open() {
	pr, pw := io.Pipe()
	s.pw, s.done = pw, make(chan error, 1)
	l := s.lease
	go func() {
		// The stream lives as long as the attempt: no timeout but the
		// process's.
		req, err := s.c.newRequest(context.Background(), http.MethodPut,
			"logs/"+l.RunID+"/"+l.TaskID+"/"+strconv.Itoa(l.Attempt), l.Worker, pr)
		if err == nil {
			req.Header.Set(HeaderLeaseToken, l.Token)
			req.Header.Set("Content-Type", "text/plain; charset=utf-8")
			var resp *http.Response
			if resp, err = s.c.do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		pr.CloseWithError(err) // a writer still writing is told
		s.done <- err
	}()
}

func (s *logStream) fail(err error) {
	if s.broken == nil {
		s.broken = err
		if s.done != nil {
			// The request's own error says more than the pipe's.
			select {
			case e := <-s.done:
				if e != nil {
					s.broken = e
				}
				s.done <- e
			default:
			}
		}
		s.c.o.Logger.Warn("an attempt's log stream to the server broke off; the rest of its output is dropped",
			"run", s.lease.RunID, "task", s.lease.TaskID, "attempt", s.lease.Attempt, "err", s.broken)
	}
}

// Close ends the log and waits for the server to have it.
func (s *logStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.pw == nil {
		return nil
	}
	s.pw.Close()
	if err := <-s.done; err != nil && s.broken == nil {
		s.fail(err)
	}
	return nil
}

// Artifacts is the worker's artifact store (tasks.Artifacts): its local
// cache by digest in front of the server's. An input is downloaded once,
// its bytes checked against its digest before the cache keeps them; an
// output is stored in the cache, then uploaded unless the server has it,
// before Put returns (so the completion naming it never comes first).
// The cache is bounded (ClientOptions.CacheMax): a blob is held from
// before its download or store until its reader is closed or its upload
// done, never evicted meanwhile.
func (c *Client) Artifacts() *Artifacts { return &Artifacts{c: c, cache: c.cache} }

// Artifacts moves artifacts between the worker's cache and the server.
type Artifacts struct {
	c     *Client
	cache *artifacts.Cache
}

// Open reads ref's bytes from the cache, downloading them first if the
// cache lacks them; bytes that do not match ref are never kept.
func (a *Artifacts) Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error) {
	// Held from the download to the reader's own hold: not evicted in
	// between.
	release := a.cache.Hold(ref.Digest)
	defer release()
	rc, err := a.cache.Open(ctx, ref)
	if err == nil {
		return &cachedReader{ReadCloser: rc, a: a, ref: ref}, nil
	}
	if !errors.Is(err, cairn.ErrNotFound) {
		return nil, err
	}
	if err := a.fetch(ctx, ref); err != nil {
		return nil, err
	}
	if rc, err = a.cache.Open(ctx, ref); err != nil {
		return nil, err
	}
	return &cachedReader{ReadCloser: rc, a: a, ref: ref}, nil
}

// cachedReader reads a blob of the worker's cache. When its bytes turn
// out not to be the digest's, the copy — this worker's, not the
// server's — is dropped, and the error says so without wrapping
// artifacts.ErrCorrupt: the attempt is retried (executor), and the retry
// fetches the bytes from the server again. Kept, the damaged copy would
// fail every attempt on this worker that reads it.
type cachedReader struct {
	io.ReadCloser
	a       *Artifacts
	ref     cairn.ArtifactRef
	damaged error // sticky, once the copy was dropped
}

func (r *cachedReader) Read(p []byte) (int, error) {
	if r.damaged != nil {
		return 0, r.damaged
	}
	n, err := r.ReadCloser.Read(p)
	if err != nil && errors.Is(err, artifacts.ErrCorrupt) {
		dropped := "it is removed"
		if derr := r.a.cache.Drop(r.ref); derr != nil {
			dropped = "it could not be removed: " + derr.Error()
		}
		r.damaged = fmt.Errorf("the copy in this worker's cache is damaged (%v); %s, and a retry fetches it from the server again", err, dropped)
		err = r.damaged
	}
	return n, err
}

// fetch downloads ref into the cache.
func (a *Artifacts) fetch(ctx context.Context, ref cairn.ArtifactRef) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	req, err := a.c.newRequest(ctx, http.MethodGet, "artifacts/"+ref.Digest, "", nil)
	if err != nil {
		return err
	}
	resp, err := a.c.do(req)
	if err != nil {
		return fmt.Errorf("fetch artifact %s: %w", ref.Digest, err)
	}
	defer resp.Body.Close()
	_, release, err := a.cache.PutExpected(ctx, ref, resp.Body)
	if err != nil {
		if errors.Is(err, artifacts.ErrCorrupt) {
			return fmt.Errorf("fetch artifact %s: the server sent other bytes, not kept: %w", ref.Digest, err)
		}
		return fmt.Errorf("fetch artifact %s: %w", ref.Digest, err)
	}
	release()
	return nil
}

// Put stores r's bytes in the cache and uploads them.
func (a *Artifacts) Put(ctx context.Context, mediaType string, r io.Reader) (cairn.ArtifactRef, error) {
	ref, release, err := a.cache.Put(ctx, mediaType, r)
	if err != nil {
		return ref, err
	}
	defer release()
	if err := a.upload(ctx, ref); err != nil {
		return cairn.ArtifactRef{}, err
	}
	return ref, nil
}

// Touch marks a cached blob as used now.
func (a *Artifacts) Touch(ref cairn.ArtifactRef) error { return a.cache.Touch(ref) }

// upload sends ref's bytes from the cache unless the server has them.
func (a *Artifacts) upload(ctx context.Context, ref cairn.ArtifactRef) error {
	req, err := a.c.newRequest(ctx, http.MethodHead, "artifacts/"+ref.Digest, "", nil)
	if err != nil {
		return err
	}
	resp, err := a.c.do(req)
	if err == nil {
		resp.Body.Close()
		if resp.ContentLength == ref.Size {
			return nil
		}
	} else if !errors.Is(err, cairn.ErrNotFound) {
		return fmt.Errorf("upload artifact %s: %w", ref.Digest, err)
	}
	rc, err := a.cache.Open(ctx, ref)
	if err != nil {
		return fmt.Errorf("upload artifact %s: %w", ref.Digest, err)
	}
	defer rc.Close()
	req, err = a.c.newRequest(ctx, http.MethodPut, "artifacts/"+ref.Digest, "", rc)
	if err != nil {
		return err
	}
	req.ContentLength = ref.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	if ref.Size == 0 {
		req.Body = http.NoBody
	}
	resp, err = a.c.do(req)
	if errors.Is(err, artifacts.ErrCorrupt) {
		// The bytes that reached the server were not the digest's (changed
		// on their way, or in this worker's cache since the task stored
		// them): not a damaged input, which a retry would read again, but
		// an output a retry makes and sends anew. Said without wrapping
		// ErrCorrupt, so that the attempt is retried (executor).
		return fmt.Errorf("upload artifact %s: the server received other bytes and kept nothing (%v); a retry makes and sends them again", ref.Digest, err)
	}
	if err != nil {
		return fmt.Errorf("upload artifact %s: %w", ref.Digest, err)
	}
	resp.Body.Close()
	return nil
}
