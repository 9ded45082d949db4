package serve

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

// ShadowSameColumns says whether model name's rollout, as served, hands
// its candidate the rows production decoded (the same columns).
func (s *Server) ShadowSameColumns(name string) bool {
	s.mu.RLock()
	e := s.names[name]
	s.mu.RUnlock()
	if e == nil {
		return false
	}
	ro := e.ro.Load()
	return ro != nil && ro.sameIn
}

// BudgetWhole reports whether no body holds any of the byte budgets.
func (s *Server) BudgetWhole() bool {
	n := bodyBudget(s.o.MaxBodyBytes)
	if !s.head.TryAcquire(n) {
		return false
	}
	s.head.Release(n)
	if !s.big.TryAcquire(n) {
		return false
	}
	s.big.Release(n)
	return true
}
