//go:build !cgo

package sqlite

// memstatusOff is config_cgo.go's: without cgo there is no SQLite to set.
func memstatusOff() bool { return false }

// memoryCounted is config_cgo.go's.
func memoryCounted() bool { return false }
