package plugins

// SetAfterRelease has f run after each attempt has put its process back
// in the pool, before the attempt returns.
func SetAfterRelease(h *Host, f func()) { h.afterRelease = f }
