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
// attempt at <root>/<run>/<task>/<attempt>.log, each bounded by a limit.
type Logs struct {
	root  string
	limit int64 // bytes of a task's output an attempt's log keeps; 0: all
}

// DefaultLogLimit bounds the task output an attempt's log keeps: a task
// printing without end must not fill the disk.
const DefaultLogLimit = 64 << 20

// maxLogTail is the most of a log's limit kept from the end of the output
// once it passed the limit: the end of a failing task's log is what its
// user wants to read. The rest of the limit is the output's beginning.
const maxLogTail = 1 << 20

// logBufSize is the write buffer of a log; a chatty task costs one write
// system call per this many bytes rather than one per line.
const logBufSize = 32 << 10

// OpenLogs returns the log store rooted at path for writing. Its folders
// are made with the first log written (a run whose tasks print nothing
// makes none). Logs are private to the user whatever the umask: folders
// 0700, files 0600 (a task's output can hold anything).
func OpenLogs(path string) (*Logs, error) {
	return OpenLogsReadOnly(path)
}

// OpenLogsReadOnly returns the log store rooted at path for reading; it
// creates nothing.
func OpenLogsReadOnly(path string) (*Logs, error) {
	if path == "" {
		return nil, errors.New("open logs: empty path")
	}
	root, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open logs %s: %w", path, err)
	}
	return &Logs{root: root, limit: DefaultLogLimit}, nil
}

// WithLimit returns the log store with each attempt's log bounded to n
// bytes of the task's output (n <= 0: unbounded). Past the limit a log
// keeps the output's first n − t bytes and its last t (t = min(n/2, 1 MiB)),
// with a line between them: "[cairn: N bytes dropped …]".
func (l *Logs) WithLimit(n int64) *Logs {
	c := *l
	c.limit = max(n, 0)
	return &c
}

// Limit is the bound of each attempt's log (0: none).
func (l *Logs) Limit() int64 { return l.limit }

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
	lw := &LogWriter{path: p, limit: l.limit}
	lw.setRoom(l.limit)
	return lw, nil
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
// share it), flushed on Close. With a limit it writes the output's first
// bytes to the file as they come, keeps a rolling window of its last ones
// in memory, and writes them at Close after a line counting the bytes
// dropped between: a log that passed its limit shows its end only once the
// attempt ended (a process killed meanwhile leaves the head alone).
type LogWriter struct {
	mu     sync.Mutex
	path   string
	f      *os.File // nil until the first write
	w      *bufio.Writer
	closed bool

	limit    int64  // 0: none
	full     bool   // the log held its limit before this writer: it drops all it is given
	headCap  int64  // bytes written to the file before the tail window
	tailCap  int    // bytes of the window
	head     int64  // bytes written to the file so far
	tail     []byte // the window: its last tailCap bytes count
	tailSeen int64  // bytes that went to the window
}

// Write appends p to the log (its first bytes to the file, once past the
// limit to the window). It fails with os.ErrClosed after Close.
func (lw *LogWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed {
		return 0, os.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Opened first: the room left depends on what the file holds.
	if err := lw.open(); err != nil {
		return 0, err
	}
	n := len(p)
	if lw.limit > 0 && lw.head+int64(len(p)) > lw.headCap {
		room := lw.headCap - lw.head
		lw.keepTail(p[room:])
		p = p[:room]
		if len(p) == 0 {
			return n, nil
		}
	}
	if _, err := lw.w.Write(p); err != nil {
		return 0, err
	}
	lw.head += int64(len(p))
	return n, nil
}

// keepTail adds p to the window, which holds at most twice its size and is
// compacted to its last tailCap bytes when full: one copy per byte.
func (lw *LogWriter) keepTail(p []byte) {
	lw.tailSeen += int64(len(p))
	c := lw.tailCap
	if lw.tail == nil {
		lw.tail = make([]byte, 0, 2*c)
	}
	if len(p) >= c {
		lw.tail = append(lw.tail[:0], p[len(p)-c:]...)
		return
	}
	if len(lw.tail)+len(p) > 2*c {
		keep := c - len(p)
		lw.tail = lw.tail[:copy(lw.tail, lw.tail[len(lw.tail)-keep:])]
	}
	lw.tail = append(lw.tail, p...)
}

// open creates the file on the first byte. lw.mu is held.
func (lw *LogWriter) open() error {
	if lw.f != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(lw.path), 0o700); err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	f, err := os.OpenFile(lw.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	if err := f.Chmod(0o600); err != nil { // whatever the umask
		f.Close()
		return fmt.Errorf("create log: %w", err)
	}
	if lw.limit > 0 {
		// The limit is the attempt's, not the writer's: what the log
		// holds already (a restarted worker, a log stream sent again)
		// counts, so that no number of writers makes it grow past it.
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("create log: %w", err)
		}
		if used := fi.Size(); used > 0 {
			lw.setRoom(max(lw.limit-used, 0))
		}
	}
	lw.f, lw.w = f, bufio.NewWriterSize(f, logBufSize)
	return nil
}

// setRoom sets the writer's head and tail to share room bytes of the
// limit. lw.mu is held, or lw is not shared yet.
func (lw *LogWriter) setRoom(room int64) {
	if lw.limit <= 0 {
		return
	}
	lw.tailCap = int(min(room/2, maxLogTail))
	lw.headCap = room - int64(lw.tailCap)
	lw.full = room == 0
}

// Flush writes buffered bytes to the file (not the window of a log past
// its limit: Close writes that).
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
func (lw *LogWriter) Close() error { return lw.CloseWithNote("") }

// CloseWithNote ends the log: the window of a log past its limit after the
// line "[cairn: N bytes dropped …]", then note, which the limit does not
// cut (the executor's: the full text of the attempt's error), and closes
// it. Closing twice is an error wrapping os.ErrClosed.
func (lw *LogWriter) CloseWithNote(note string) error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed {
		return fmt.Errorf("close log: %w", os.ErrClosed)
	}
	lw.closed = true
	kept := lw.tail[max(len(lw.tail)-lw.tailCap, 0):]
	if lw.f == nil && len(kept) == 0 && note == "" {
		return nil
	}
	if err := lw.open(); err != nil {
		return fmt.Errorf("close log: %w", err)
	}
	if dropped := lw.tailSeen - int64(len(kept)); dropped > 0 && !lw.full {
		fmt.Fprintf(lw.w, "\n[cairn: %s dropped: the log keeps the first %s and the last %s of an attempt's output (cairn run --log-limit)]\n",
			bytesText(dropped), sizeText(lw.headCap), sizeText(int64(lw.tailCap)))
	}
	lw.w.Write(kept)
	lw.w.WriteString(note)
	lw.tail = nil
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

// sizeText renders n bytes for a person: "63 MiB", "1 KiB", "500 bytes".
func sizeText(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return bytesText(n)
}

// bytesText is "1 byte", "0 bytes", "4096 bytes": exact, plural right.
func bytesText(n int64) string {
	if n == 1 {
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", n)
}
