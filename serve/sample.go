package serve

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The sample log's fields besides the model's columns.
const (
	SampleTimeField    = "cairn_time"    // when the request was served, RFC 3339 in UTC
	SampleVersionField = "cairn_version" // the model version that served it
)

// Sample log files, in SampleDir/NAME/.
const (
	SampleFile        = "samples.jsonl"
	SampleRotatedFile = "samples.1.jsonl"
)

// sampler keeps the sampled rows of requests and appends them to each
// model's log from its own goroutine: a request only copies its rows into
// a bounded buffer, and when the buffer is full they are dropped and
// counted.
type sampler struct {
	dir        string
	maxFile    int64
	maxPending int
	log        *slog.Logger
	observe    func(Event)

	mu      sync.Mutex
	pending map[string][]byte // model → lines not written yet
	size    int               // bytes in pending
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool

	files   map[string]*sampleFile // the writer's only
	locks   map[string]*os.File    // the writer's only: each folder's lock file, open
	lastErr string                 // the writer's last error, logged once
}

type sampleFile struct {
	f    sampleHandle
	size int64
}

// sampleHandle is what the writer needs of an open sample log (an
// *os.File; a narrower fake in the tests).
type sampleHandle interface {
	Write(b []byte) (int, error)
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
	Close() error
}

func newSampler(dir string, maxFile int64, maxPending int, log *slog.Logger, observe func(Event)) *sampler {
	return &sampler{dir: dir, maxFile: maxFile, maxPending: maxPending, log: log, observe: observe,
		pending: map[string][]byte{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		files: map[string]*sampleFile{}, locks: map[string]*os.File{}}
}

// add appends the kept rows of a request to name's pending lines, or
// drops them when the buffer is full.
func (s *sampler) add(name string, version int, at time.Time, d *decoder) {
	if len(d.kept) == 0 {
		return
	}
	p := len(d.s.cols)
	var line []byte
	line = append(line, '{')
	if d.s.timeField {
		line = append(line, `"`+SampleTimeField+`":"`...)
		line = at.UTC().AppendFormat(line, time.RFC3339Nano)
		line = append(line, `",`...)
	}
	if d.s.versionField {
		line = append(line, `"`+SampleVersionField+`":`...)
		line = strconv.AppendInt(line, int64(version), 10)
		line = append(line, ',')
	}
	head := len(line)
	lines := make([]byte, 0, len(d.kept)*(head+p*24))
	for k := range d.kept {
		lines = append(d.appendKeptFields(append(lines, line[:head]...), k), "}\n"...)
	}
	s.mu.Lock()
	if s.size+len(lines) > s.maxPending {
		s.mu.Unlock()
		s.observe(Event{Kind: EventSamplesDropped, Model: name, Rows: len(d.kept)})
		return
	}
	s.pending[name] = append(s.pending[name], lines...)
	s.size += len(lines)
	big := s.size >= s.maxPending/4
	s.mu.Unlock()
	if big {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// run writes what is pending every second, or sooner when the buffer
// fills, until stop; then writes what is left and closes the files.
func (s *sampler) run() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.flush()
			s.closeFiles()
			return
		case <-t.C:
		case <-s.wake:
		}
		s.flush()
	}
}

func (s *sampler) flush() {
	s.mu.Lock()
	pending := s.pending
	if len(pending) == 0 {
		s.mu.Unlock()
		return
	}
	s.pending = make(map[string][]byte, len(pending))
	s.size = 0
	s.mu.Unlock()
	for name, b := range pending {
		if err := s.write(name, b); err != nil {
			rows := 0
			for _, c := range b {
				if c == '\n' {
					rows++
				}
			}
			s.observe(Event{Kind: EventSamplesDropped, Model: name, Rows: rows})
			if msg := err.Error(); msg != s.lastErr {
				s.lastErr = msg
				s.log.Error("serve: the prediction sample log cannot be written; its rows are dropped", "model", name, "err", err)
			}
			continue
		}
		s.lastErr = ""
	}
}

// write appends b (whole lines) to name's log, rotating it whenever the
// next lines would take it past maxFile: the log goes to
// SampleRotatedFile (replacing the one there) and a new one starts. A
// line longer than maxFile gets a file of its own.
//
// Other servers on the home may write the same log: each write holds an
// exclusive flock of the folder's SampleLockFile, and first makes sure
// its handle is still the log's (another server may have rotated it) and
// takes the log's size from the file, not from what it wrote itself.
func (s *sampler) write(name string, b []byte) error {
	unlock, err := s.lock(name)
	if err != nil {
		return err
	}
	defer unlock()
	for len(b) > 0 {
		f, err := s.file(name)
		if err != nil {
			return err
		}
		chunk := b
		if f.size+int64(len(b)) > s.maxFile {
			room := max(s.maxFile-f.size, 0)
			i := bytes.LastIndexByte(b[:min(int64(len(b)), room)], '\n')
			switch {
			case i >= 0:
				chunk = b[:i+1]
			case f.size > 0:
				if err := s.rotate(name, f); err != nil {
					return err
				}
				continue
			default: // one line longer than a file
				chunk = b[:bytes.IndexByte(b, '\n')+1]
			}
		}
		n, err := f.f.Write(chunk)
		if err != nil {
			// A short write (a full disk) leaves part of a line: cut it
			// off, or the next lines would follow it on the same line. If
			// even that fails, the handle goes and the file is cut back
			// to its last whole line when it is opened again.
			if n > 0 {
				if terr := f.f.Truncate(f.size); terr != nil {
					f.f.Close()
					delete(s.files, name)
				}
			}
			return fmt.Errorf("write the sample log of %s: %w", name, err)
		}
		f.size += int64(n)
		b = b[len(chunk):]
		if len(b) > 0 {
			if err := s.rotate(name, f); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *sampler) rotate(name string, f *sampleFile) error {
	f.f.Close()
	delete(s.files, name)
	dir := filepath.Join(s.dir, name)
	if err := os.Rename(filepath.Join(dir, SampleFile), filepath.Join(dir, SampleRotatedFile)); err != nil {
		return fmt.Errorf("rotate the sample log of %s: %w", name, err)
	}
	return nil
}

// SampleLockFile is the file of a model's sample-log folder that the
// servers writing the log flock while they write or rotate it.
const SampleLockFile = "samples.lock"

// closeFiles closes the logs and lock files the writer holds open.
func (s *sampler) closeFiles() {
	for name, f := range s.files {
		f.f.Close()
		delete(s.files, name)
	}
	for name, lf := range s.locks {
		lf.Close()
		delete(s.locks, name)
	}
}

// lock takes the exclusive flock of name's folder (made if need be) and
// returns what releases it.
func (s *sampler) lock(name string) (func(), error) {
	lf, ok := s.locks[name]
	if !ok {
		dir := filepath.Join(s.dir, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("make the sample log's folder: %w", err)
		}
		var err error
		if lf, err = os.OpenFile(filepath.Join(dir, SampleLockFile), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return nil, fmt.Errorf("open the sample log's lock: %w", err)
		}
		s.locks[name] = lf
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock the sample log of %s: %w", name, err)
	}
	return func() { _ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) }, nil
}

// file returns name's open log: the handle kept if it is still the file
// at the log's path (with the file's size now), else the file opened.
func (s *sampler) file(name string) (*sampleFile, error) {
	dir := filepath.Join(s.dir, name)
	path := filepath.Join(dir, SampleFile)
	if f, ok := s.files[name]; ok {
		hi, err := f.f.Stat()
		pi, perr := os.Stat(path)
		if err == nil && perr == nil && os.SameFile(hi, pi) {
			f.size = hi.Size() // another server may have appended
			return f, nil
		}
		f.f.Close() // rotated (or removed) by another server
		delete(s.files, name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make the sample log's folder: %w", err)
	}
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the sample log: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("open the sample log: %w", err)
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("the sample log %s is not a regular file: %w", path, fs.ErrInvalid)
	}
	f := &sampleFile{f: fh, size: st.Size()}
	// A line cut short by a crash is cut off, so that every line is a
	// whole JSON object.
	if end, err := lastLineEnd(fh, f.size); err == nil && end < f.size {
		if err := fh.Truncate(end); err == nil {
			f.size = end
		}
	}
	s.files[name] = f
	return f, nil
}

// lastLineEnd returns the size of f up to and including its last newline
// (0 if it has none), reading backwards from size.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return size, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
