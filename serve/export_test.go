package serve

// AppendFloat is appendFloat, for the external tests.
var AppendFloat = appendFloat

// TakeBigTurns takes every turn of a large body, as that many large
// requests under way would.
func (s *Server) TakeBigTurns() {
	for range cap(s.big) {
		s.big <- struct{}{}
	}
}
