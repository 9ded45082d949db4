package artifacts

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/cairnml/cairn"
)

// Logs keeps task attempt logs as files under a root folder, one per
// attempt at <root>/<run>/<task>/<attempt>.log.
type Logs struct {
	root string
}

// logBufSize is the write buffer of a log; a chatty task costs one write
// system call per this many bytes rather than one per line.
const logBufSize = 32 << 10

// OpenLogs returns the log store rooted at path, creating the folder if
// needed.
func OpenLogs(path string) (*Logs, error) {
	if path == "" {
		return nil, errors.New("open logs: empty path")
	}
	root, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open logs %s: %w", path, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("open logs %s: %w", path, err)
	}
	return &Logs{root: root}, nil
}

// Path returns the file of an attempt's log, whether or not it exists. It
// fails if runID or taskID is not a single safe path component ("", ".",
// "..", or holding a slash, a backslash or a NUL) or attempt is below 1.
func (l *Logs) Path(runID, taskID string, attempt int) (string, error) {
	if err := checkComponent("run id", runID); err != nil {
		return "", err
	}
	if err := checkComponent("task id", taskID); err != nil {
		return "", err
	}
	if attempt < 1 {
		return "", fmt.Errorf("log of %s/%s: attempt %d is not a positive number", runID, taskID, attempt)
	}
	return filepath.Join(l.root, runID, taskID, strconv.Itoa(attempt)+".log"), nil
}

func checkComponent(what, s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
		return fmt.Errorf("log path: %s %q is not a plain name", what, s)
	}
	return nil
}

// Create returns the attempt's log for writing. The file is created on the
// first write, not before: an attempt that prints nothing leaves no file
// (Open then reports cairn.ErrNotFound), and creating files is the costly
// part of a short task on many file systems. Writes append: creating the log of an attempt that already has one (a restarted
// worker) adds to it rather than truncating it. The writer is a *LogWriter,
// safe for concurrent writes; close it to flush. Create fails like Path, or
// with the file system's error.
func (l *Logs) Create(runID, taskID string, attempt int) (io.WriteCloser, error) {
	p, err := l.Path(runID, taskID, attempt)
	if err != nil {
		return nil, err
	}
	return &LogWriter{path: p}, nil
}

// Open returns the attempt's log for reading. It fails with an error
// wrapping cairn.ErrNotFound if the attempt has no log, or like Path. Bytes
// still buffered in an open LogWriter are not visible until it flushes.
func (l *Logs) Open(runID, taskID string, attempt int) (io.ReadCloser, error) {
	p, err := l.Path(runID, taskID, attempt)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("log of %s/%s attempt %d: %w", runID, taskID, attempt, cairn.ErrNotFound)
		}
		return nil, fmt.Errorf("open log: %w", err)
	}
	return f, nil
}

// LogWriter is an attempt's log open for writing: created on first write,
// buffered, safe for concurrent use (a task's stdout and stderr copiers may
// share it), flushed on Close.
type LogWriter struct {
	mu     sync.Mutex
	path   string
	f      *os.File // nil until the first write
	w      *bufio.Writer
	closed bool
}

// Write appends p to the log. It fails with os.ErrClosed after Close.
func (lw *LogWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed {
		return 0, os.ErrClosed
	}
	if lw.f == nil {
		if len(p) == 0 {
			return 0, nil
		}
		if err := os.MkdirAll(filepath.Dir(lw.path), 0o755); err != nil {
			return 0, fmt.Errorf("create log: %w", err)
		}
		f, err := os.OpenFile(lw.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return 0, fmt.Errorf("create log: %w", err)
		}
		lw.f, lw.w = f, bufio.NewWriterSize(f, logBufSize)
	}
	return lw.w.Write(p)
}

// Flush writes buffered bytes to the file.
func (lw *LogWriter) Flush() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed {
		return os.ErrClosed
	}
	if lw.f == nil {
		return nil
	}
	return lw.w.Flush()
}

// Close flushes the log and closes its file. Closing twice is an error
// wrapping os.ErrClosed.
func (lw *LogWriter) Close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed {
		return fmt.Errorf("close log: %w", os.ErrClosed)
	}
	lw.closed = true
	if lw.f == nil {
		return nil
	}
	ferr := lw.w.Flush()
	cerr := lw.f.Close()
	if ferr != nil {
		return fmt.Errorf("close log: %w", ferr)
	}
	if cerr != nil {
		return fmt.Errorf("close log: %w", cerr)
	}
	return nil
}
