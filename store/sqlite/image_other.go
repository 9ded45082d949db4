//go:build !darwin && !linux && !openbsd

package sqlite

import "os"

// writeAllAt writes bufs one after the other into f from offset off, one
// write each (image_pwritev.go's does it in one system call).
func writeAllAt(f *os.File, bufs [][]byte, off int64) error {
	for _, b := range bufs {
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}
