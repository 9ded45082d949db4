package sqlite

import "context"

// IntegrityCheck runs PRAGMA integrity_check on the read pool.
func (s *Store) IntegrityCheck(ctx context.Context) (string, error) {
	var ok string
	err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok)
	return ok, err
}
