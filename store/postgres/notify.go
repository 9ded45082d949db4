package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// listener is one LISTEN connection and its goroutine.
type listener struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *listener) stop() {
	l.cancel()
	<-l.done
}

// Listen calls onReady when another transaction (in any process on the
// database) made tasks ready, and onEvaluation when one wrote an
// evaluation: the NOTIFYs those transactions send at commit. It is what
// wakes a lease long-poll (scheduler.Broker.NotifyReady) and a scheduler
// (its evaluation poll) across processes; either func may be nil. It
// returns once listening, on a connection of its own, and keeps at it
// until ctx ends or the store closes, reconnecting after a failure (then
// calling both funcs, since notifications sent meanwhile are lost). The
// funcs run on the listening goroutine and must not block. Notifications
// are hints: a caller still polls, less often.
func (s *Store) Listen(ctx context.Context, onReady, onEvaluation func()) error {
	conn, err := s.listenConn(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &listener{cancel: cancel, done: make(chan struct{})}
	s.lmu.Lock()
	s.listeners = append(s.listeners, l)
	s.lmu.Unlock()
	call := func(f func()) {
		if f != nil {
			f()
		}
	}
	go func() {
		defer close(l.done)
		defer func() {
			if conn != nil {
				conn.Close(context.Background())
			}
		}()
		for {
			n, err := conn.WaitForNotification(ctx)
			if err == nil {
				switch n.Channel {
				case channelReady:
					call(onReady)
				case channelEvaluations:
					call(onEvaluation)
				}
				continue
			}
			if ctx.Err() != nil {
				return
			}
			conn.Close(context.Background())
			conn = nil
			for pause := 100 * time.Millisecond; conn == nil; pause = min(2*pause, 5*time.Second) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(pause):
				}
				conn, _ = s.listenConn(ctx)
			}
			call(onReady)
			call(onEvaluation)
		}
	}()
	return nil
}

// listenConn opens a connection of its own (a pooled one must not hold a
// LISTEN) and listens on both channels.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.dsn, err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+channelReady+`; LISTEN `+channelEvaluations); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("listen on %s: %w", s.dsn, err)
	}
	return conn, nil
}
