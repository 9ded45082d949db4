package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxEventLine bounds one line of the event stream (the server sends at
// most 256 KiB of log in one event).
const maxEventLine = 4 << 20

// Reconnects of a followed log whose stream broke before its end.
const (
	followRetries = 5
	followBackoff = 200 * time.Millisecond
)

// FollowLog writes the log of attempt n (1 or more) of a task to w from
// byte offset from as it grows, read as Server-Sent Events, until the
// attempt has ended and all of its log is written, or ctx ends. It
// returns the state the attempt ended in (the stream's "end" event) and
// the offset it reached. A stream that breaks before its end is taken up
// again from the offset reached, a few times.
func (c *Client) FollowLog(ctx context.Context, runID, taskID string, n int, from int64, w io.Writer) (state string, off int64, err error) {
	if n < 1 {
		return "", from, fmt.Errorf("follow the log of %s: want an attempt number from 1, not %d", taskID, n)
	}
	off = from
	failures := 0
	for {
		var progressed bool
		state, progressed, err = c.followOnce(ctx, runID, taskID, n, &off, w)
		if err == nil || ctx.Err() != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return state, off, err
		}
		var broken *streamBroken
		var unreachable *UnreachableError
		if !errors.As(err, &broken) && !errors.As(err, &unreachable) {
			return "", off, err // an answer of the server: 404, 401, ...
		}
		if progressed {
			failures = 0
		}
		if failures++; failures > followRetries {
			if broken != nil {
				return "", off, broken.err
			}
			return "", off, err
		}
		select {
		case <-ctx.Done():
			return "", off, ctx.Err()
		case <-time.After(followBackoff << (failures - 1)):
		}
	}
}

// streamBroken is a stream that ended before its end event.
type streamBroken struct{ err error }

func (e *streamBroken) Error() string { return e.err.Error() }

// followOnce reads one event stream; progressed says whether it moved off on.
func (c *Client) followOnce(ctx context.Context, runID, taskID string, n int, off *int64, w io.Writer) (string, bool, error) {
	q := url.Values{"follow": {"1"}, "attempt": {strconv.Itoa(n)}, "from": {strconv.FormatInt(*off, 10)}}
	k := c.logCall(runID, taskID, q)
	k.what = fmt.Sprintf("follow the log of %s attempt %d", taskID, n)
	req, err := c.newRequest(ctx, k)
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.strm.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, ctx.Err()
		}
		return "", false, &UnreachableError{URL: c.URL(), What: k.what, Err: unwrapURLError(err), Timeout: c.tmo}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", false, c.answerError(k, resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return "", false, fmt.Errorf("%s: the server answered %q, not an event stream", k.what, ct)
	}
	start := *off
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var event string
	var data []string
	id := int64(-1)
	for {
		line, err := readLine(br)
		if err != nil {
			if ctx.Err() != nil {
				return "", *off > start, ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", *off > start, &streamBroken{fmt.Errorf("%s: the stream from %s ended before the attempt did: %v", k.what, c.URL(), err)}
		}
		if line != "" {
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "event":
				event = value
			case "data":
				data = append(data, value)
			case "id":
				if v, err := strconv.ParseInt(value, 10, 64); err == nil {
					id = v
				}
			}
			continue
		}
		// A blank line dispatches the event.
		switch event {
		case "log":
			text := strings.Join(data, "\n")
			// Each data line was a line of the log; the id is the offset
			// after them, which says whether the last one ended with a
			// newline (a partial line is sent only at the attempt's end).
			if id < 0 || id-*off > int64(len(text)) {
				text += "\n"
			}
			if _, err := io.WriteString(w, text); err != nil {
				return "", *off > start, fmt.Errorf("%s: write: %w", k.what, err)
			}
			if id >= 0 {
				*off = id
			} else {
				*off += int64(len(text))
			}
		case "end":
			return strings.Join(data, "\n"), true, nil
		case "error":
			return "", *off > start, fmt.Errorf("%s: the server could not read it: %s", k.what, clean(strings.Join(data, " ")))
		}
		event, data, id = "", nil, -1
	}
}

// readLine reads one line of an event stream without its end (LF, CRLF).
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxEventLine {
			return "", fmt.Errorf("a line of the event stream is over %d MiB", maxEventLine>>20)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return string(bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))), nil
	}
}
