//go:build !unix

package collect

import (
	"os"
	"time"
)

type fileID struct{}

// idOf reports no identity: every SourceDigest reads the file.
func idOf(os.FileInfo, time.Time) (fileID, bool) { return fileID{}, false }
