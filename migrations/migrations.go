package migrations

import (
	"embed"
	"io/fs"
)

// files holds every dialect's migrations. It is read-only.
//
//go:embed sqlite/*.sql
var files embed.FS

// SQLite returns the SQLite migrations: NNNN_name.sql files at the root of
// the returned file system.
func SQLite() fs.FS {
	sub, err := fs.Sub(files, "sqlite")
	if err != nil {
		// fs.Sub fails only for an invalid path; "sqlite" is valid.
		panic("migrations: " + err.Error())
	}
	return sub
}
