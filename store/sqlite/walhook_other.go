//go:build !cgo

package sqlite

// walWatchRegistered is walhook_cgo.go's: without cgo there is no SQLite
// to hook.
func walWatchRegistered() bool { return false }

// walVFS is walvfs_cgo.go's: without cgo there is no SQLite to extend.
func walVFS() string { return "" }

// VFS is walvfs_cgo.go's: without cgo there is none.
func VFS() string { return "" }
