package serve

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cairnml/cairn"
)

// RowLog is where the sampled rows of served requests are kept for the
// leader's drift_above alerts (the store: issue #22). Each write keeps at
// most keep rows per model version, the oldest deleted by the same write.
type RowLog interface {
	LogServedRows(ctx context.Context, rows []cairn.ServedRow, keep int) error
}

// Row log defaults.
const (
	// DefaultRowBuffer bounds the sampled rows waiting to be written to
	// the RowLog: past it they are dropped and counted
	// (EventSamplesDropped).
	DefaultRowBuffer = 20000
	// rowEvery is how often the sampled rows are written.
	rowEvery = time.Second
	// rowBatch is the most rows of one write (one transaction).
	rowBatch = 5000
)

// rowLog buffers sampled rows and writes them to the RowLog from its own
// goroutine, in batches: a request only copies its sampled rows into the
// buffer, never waiting for the database.
type rowLog struct {
	log     RowLog
	keep    int
	max     int
	logger  *slog.Logger
	observe func(Event)

	mu      sync.Mutex
	pending []cairn.ServedRow
	flushMu sync.Mutex // one write at a time
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	failing bool // under flushMu: the last write failed (logged once)
}

// add copies the kept rows of a request answered by name@version into the
// buffer, or counts them dropped when it is full.
func (l *rowLog) add(name string, version int, at time.Time, d *decoder) {
	n := len(d.kept)
	if n == 0 {
		return
	}
	l.mu.Lock()
	full := len(l.pending)+n > l.max
	l.mu.Unlock()
	if full { // checked again below: this spares the copies
		l.observe(Event{Kind: EventSamplesDropped, Model: name, Version: version, Rows: n})
		return
	}
	// One array holds every row's bytes: two allocations a request, not
	// one a row.
	p := len(d.s.cols)
	size := 0
	for k := range d.kept {
		size += rowSize(d, k, p)
	}
	buf := make([]byte, 0, size)
	rows := make([]cairn.ServedRow, 0, n)
	for k := range d.kept {
		if rowSize(d, k, p) > cairn.MaxServedRowBytes {
			l.observe(Event{Kind: EventSamplesDropped, Model: name, Version: version, Rows: 1})
			continue
		}
		start := len(buf)
		buf = append(d.appendKeptFields(append(buf, '{'), k), '}')
		rows = append(rows, cairn.ServedRow{Name: name, Version: version, At: at, Row: buf[start:len(buf):len(buf)]})
	}
	l.mu.Lock()
	if len(l.pending)+len(rows) > l.max {
		l.mu.Unlock()
		l.observe(Event{Kind: EventSamplesDropped, Model: name, Version: version, Rows: len(rows)})
		return
	}
	l.pending = append(l.pending, rows...)
	big := len(l.pending) >= rowBatch
	l.mu.Unlock()
	if big {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// rowSize is the length of kept row k's JSON object (p columns).
func rowSize(d *decoder, k, p int) int {
	size := 1 + p // the braces and the commas
	for j, c := range d.s.cols {
		sp := d.spans[k*p+j]
		size += len(c.key) + int(sp.end-sp.start)
	}
	return size
}

func (l *rowLog) run() {
	defer close(l.done)
	t := time.NewTicker(rowEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			l.flush(ctx)
			cancel()
			return
		case <-t.C:
		case <-l.wake:
		}
		l.flush(context.Background())
	}
}

// flush writes the pending rows, rowBatch at a time; those a failed write
// held are dropped (counted), so that a database that is down takes no
// memory.
func (l *rowLog) flush(ctx context.Context) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	for len(batch) > 0 {
		chunk := batch[:min(len(batch), rowBatch)]
		batch = batch[len(chunk):]
		if err := l.log.LogServedRows(ctx, chunk, l.keep); err != nil {
			for _, r := range chunk {
				l.observe(Event{Kind: EventSamplesDropped, Model: r.Name, Version: r.Version, Rows: 1})
			}
			if !l.failing {
				l.failing = true
				l.logger.Warn("serve: write the sampled rows to the store; these rows count in no drift_above alert", "rows", len(chunk), "err", err)
			}
			continue
		}
		if l.failing {
			l.failing = false
			l.logger.Info("serve: the sampled rows are written to the store again")
		}
	}
}

// RowsWaiting is the number of sampled rows not written to the RowLog
// yet (for tests).
func (s *Server) RowsWaiting() int {
	if s.rows == nil {
		return 0
	}
	s.rows.mu.Lock()
	defer s.rows.mu.Unlock()
	return len(s.rows.pending)
}
