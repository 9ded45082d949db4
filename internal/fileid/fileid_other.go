//go:build !unix

package fileid

import "os"

// Of reports no identity here: callers read the file every time.
func Of(os.FileInfo) (ID, bool) { return ID{}, false }
