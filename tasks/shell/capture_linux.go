//go:build linux

package shell

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// spoolTick is how often a running command's output moves to the log once
// it has run for that long: a short command's output moves once, at its end.
const spoolTick = 250 * time.Millisecond

// spool captures output in an in-memory file (memfd): the child writes to
// it directly, with no pipe and no goroutine reading it. A short command
// costs no more than one with its output on /dev/null — a pipe adds about a
// seventh to a fork/exec of /bin/true here. A long one is followed every
// spoolTick, and the part already copied is punched out of the file so it
// holds at most one tick of output.
type spool struct {
	f    *os.File
	log  io.Writer
	buf  []byte
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	off   int64 // bytes copied to the log so far
	werr  error // the first log write error
	rerr  error // the first error reading the file (not io.EOF)
	tick  *time.Timer
	atEnd bool // the last flush read the file to its end
}

func newCapture(log io.Writer) (capture, error) {
	if f := idleSpools.take(); f != nil {
		return &spool{f: f, log: log}, nil
	}
	fd, err := unix.MemfdCreate("cairn-log", unix.MFD_CLOEXEC)
	if err != nil {
		return newPipe(log)
	}
	return &spool{f: os.NewFile(uintptr(fd), "cairn-log"), log: log}, nil
}

// idleSpools holds the files of ended commands that printed nothing, for
// the next commands: a memfd_create, its file's set-up and its close cost
// about 10 µs of a chain hop of /bin/true here (after the child ran, with
// the caches cold), while a task that prints nothing leaves its file as
// it found it, empty, at offset 0 and held by no process.
var idleSpools spoolPool

// maxIdleSpools bounds the files kept: as many as commands ended at once.
const maxIdleSpools = 64

type spoolPool struct {
	mu   sync.Mutex
	idle []*os.File
}

func (p *spoolPool) take() *os.File {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	f := p.idle[n-1]
	p.idle = p.idle[:n-1]
	return f
}

// put keeps f for reuse, or says it did not (the pool is full).
func (p *spoolPool) put(f *os.File) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= maxIdleSpools {
		return false
	}
	p.idle = append(p.idle, f)
	return true
}

func (s *spool) writer() *os.File { return s.f }

func (s *spool) started() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	s.tick = time.AfterFunc(spoolTick, s.follow)
}

// follow copies output to the log every tick until finish stops it.
func (s *spool) follow() {
	defer close(s.done)
	t := time.NewTicker(spoolTick)
	defer t.Stop()
	for {
		s.flush()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// flush copies the output written since the last flush to the log and
// frees the memory it took.
func (s *spool) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf == nil {
		s.buf = *spoolBufs.Get().(*[]byte)
	}
	copied := false
	s.atEnd = false
	for {
		n, err := s.f.ReadAt(s.buf, s.off)
		if n > 0 {
			if s.werr == nil {
				_, s.werr = s.log.Write(s.buf[:n])
			}
			s.off += int64(n)
			copied = true
		}
		if err != nil || n == 0 {
			s.atEnd = errors.Is(err, io.EOF)
			if err != nil && !s.atEnd && s.rerr == nil {
				s.rerr = err
			}
			break // io.EOF: caught up
		}
	}
	// A log that buffers (artifacts.LogWriter) is flushed, so that a
	// follower (`cairn logs -f`) sees the output while the command runs.
	if fl, ok := s.log.(interface{ Flush() error }); ok && copied && s.werr == nil {
		s.werr = fl.Flush()
	}
	if page := s.off &^ 4095; page > 0 {
		// The child writes at its own offset, past this: dropping the
		// copied pages keeps the file's memory to what is not yet copied.
		_ = unix.Fallocate(int(s.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, page)
	}
}

func (s *spool) finish(reuse bool) error {
	s.mu.Lock()
	following := s.tick != nil && !s.tick.Stop()
	s.mu.Unlock()
	if following {
		close(s.stop)
		<-s.done
	}
	s.flush()
	s.mu.Lock()
	if buf := s.buf; buf != nil {
		s.buf = nil
		spoolBufs.Put(&buf)
	}
	// Nothing was written (the file ends at 0) and nothing can write any
	// more: the next command gets the file as a new one would be. Its
	// offset, which the command's descriptors shared, goes back to 0 too:
	// a command that wrote and then emptied the file by another
	// descriptor (truncating /dev/stdout) leaves it further on.
	empty := s.off == 0 && s.atEnd && s.rerr == nil
	s.mu.Unlock()
	if reuse && empty {
		if _, err := s.f.Seek(0, io.SeekStart); err == nil && idleSpools.put(s.f) {
			return s.werr
		}
	}
	if err := s.f.Close(); err != nil && s.werr == nil {
		return fmt.Errorf("close output spool: %w", err)
	}
	return s.werr
}

// spoolBufs holds the buffers output is copied through: one per attempt
// was the most of what an attempt allocated.
var spoolBufs = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}
