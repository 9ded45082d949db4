package serve

import "errors"

// AppendFloat is appendFloat, for the external tests.
var AppendFloat = appendFloat

// TakeBigTurns takes every turn of a large body, as that many large
// requests under way would.
func (s *Server) TakeBigTurns() {
	for s.big.TryAcquire(bigChunk) {
	}
}

// TakeHeadTurns takes every turn of a body's first MiB, as that many
// requests under way would.
func (s *Server) TakeHeadTurns() {
	for s.head.TryAcquire(bigChunk) {
	}
}

// EvaluateCandidate does, on model name's rollout candidate, what shadow
// scoring does of the model's own work (evaluate: the rows decoded and
// predicted), for BenchmarkShadow's measure of it.
func (s *Server) EvaluateCandidate(name string, body []byte) error {
	s.mu.RLock()
	e := s.names[name]
	s.mu.RUnlock()
	if e == nil || e.ro.Load() == nil {
		return errors.New("no rollout served for " + name)
	}
	d, _, err := s.evaluate(e.ro.Load().cand, body)
	if d != nil {
		d.release()
	}
	return err
}

// ShadowWaiting is the number of shadowed requests waiting for the
// shadow workers.
func (s *Server) ShadowWaiting() int {
	s.sq.mu.Lock()
	defer s.sq.mu.Unlock()
	return len(s.sq.pending)
}

// LogWaiting is the number of requests waiting to be written to the
// request log.
func (s *Server) LogWaiting() int {
	if s.reqs == nil {
		return 0
	}
	s.reqs.mu.Lock()
	defer s.reqs.mu.Unlock()
	return len(s.reqs.pending)
}
