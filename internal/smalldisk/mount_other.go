//go:build !linux

package smalldisk

import "errors"

func mount(dir, size string) error { return errors.New("a tmpfs is mounted on Linux only") }

func unmount(dir string) {}
