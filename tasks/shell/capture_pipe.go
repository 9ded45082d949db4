package shell

import (
	"fmt"
	"io"
	"os"
	"time"
)

// drainWait bounds how long the pipe is read after the command and its
// process group are gone, in case something outside the group (a process
// that called setsid) still holds it.
const drainWait = 2 * time.Second

// pipe captures output through a pipe and a goroutine copying it to the
// log: the fallback where memfd_create is not available.
type pipe struct {
	r, w *os.File
	log  io.Writer
	done chan error
}

func newPipe(log io.Writer) (capture, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("log pipe: %w", err)
	}
	return &pipe{r: r, w: w, log: log}, nil
}

func (p *pipe) writer() *os.File { return p.w }

func (p *pipe) started() {
	p.w.Close() // the child holds the write end now
	p.done = make(chan error, 1)
	go func() { p.done <- copyAll(p.log, p.r, make([]byte, 32<<10)) }()
}

func (p *pipe) finish(bool) error {
	if p.done == nil { // never started
		p.w.Close()
		p.r.Close()
		return nil
	}
	var err error
	select {
	case err = <-p.done:
	case <-time.After(drainWait):
		p.r.Close() // unblocks the reader
		err = <-p.done
	}
	p.r.Close()
	return err
}
