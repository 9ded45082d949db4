//go:build !unix

package plugins

import "io/fs"

// ownedByMe cannot tell where files have no Unix owner.
func ownedByMe(fs.FileInfo) bool { return true }

// otherOwner cannot tell where files have no Unix owner.
func otherOwner(fs.FileInfo) string { return "" }
