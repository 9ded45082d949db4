package postgres

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Statement counts by kind, for finding where a workload's round trips
// go (WithStatementCounts). A kind is a statement's text with its
// whitespace collapsed, cut to kindLen bytes: BEGIN, COMMIT and
// ROLLBACK (and savepoints) are kinds of their own, so that a count of
// transactions stands beside the statements they ran.

// kindLen is how much of a statement's text names its kind.
const kindLen = 120

// WithStatementCounts makes the store count every statement its pool's
// connections run, by kind (StatementCounts): a pgx tracer, a map lookup
// per statement. For diagnosis (cairn server's CAIRN_DEBUG_ADDR), off by
// default.
func WithStatementCounts() Option { return func(o *options) { o.countStatements = true } }

// StatementCount is how many times statements of one kind ran.
type StatementCount struct {
	Kind  string `json:"kind"`
	Count int64  `json:"count"`
}

// stmtCounter is the tracer of WithStatementCounts.
type stmtCounter struct {
	mu     sync.Mutex
	byText map[string]string // a statement's full text → its kind
	counts map[string]int64
}

func newStmtCounter() *stmtCounter {
	return &stmtCounter{byText: map[string]string{}, counts: map[string]int64{}}
}

// kind names sql's kind.
func kind(sql string) string {
	k := strings.Join(strings.Fields(sql), " ")
	up := strings.ToUpper(k)
	switch {
	case strings.HasPrefix(up, "BEGIN"): // with its isolation level
		return "BEGIN"
	case strings.HasPrefix(up, "SAVEPOINT"), strings.HasPrefix(up, "RELEASE"): // pgx names savepoints sp_N
		return strings.Fields(up)[0]
	case strings.HasPrefix(up, "ROLLBACK TO"):
		return "ROLLBACK TO SAVEPOINT"
	}
	if len(k) > kindLen {
		k = k[:kindLen]
	}
	return k
}

func (c *stmtCounter) count(sql string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.byText[sql]
	if !ok {
		k = kind(sql)
		if len(c.byText) < 10000 { // statements built per call (IN lists) are not kept
			c.byText[sql] = k
		}
	}
	c.counts[k]++
}

func (c *stmtCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.count(data.SQL)
	return ctx
}

func (c *stmtCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *stmtCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (c *stmtCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	c.count(data.SQL)
}

func (c *stmtCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// StatementCounts returns the statements run so far by kind, the most
// frequent first; nil unless the store was opened WithStatementCounts.
func (s *Store) StatementCounts() []StatementCount {
	if s.counter == nil {
		return nil
	}
	s.counter.mu.Lock()
	out := make([]StatementCount, 0, len(s.counter.counts))
	for k, n := range s.counter.counts {
		out = append(out, StatementCount{Kind: k, Count: n})
	}
	s.counter.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}
