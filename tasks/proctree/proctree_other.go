//go:build !linux

package proctree

import (
	"context"
	"os/exec"
	"syscall"
)

// Options configures a Tree.
type Options struct{ NoCgroup bool }

// Tree does nothing off Linux: a command's process group is all there is.
type Tree struct{}

func New(name string, marks []string, o Options) (*Tree, error)                 { return &Tree{}, nil }
func CgroupAvailable() bool                                                     { return false }
func (t *Tree) Cgroup() string                                                  { return "" }
func (t *Tree) Prepare(cmd *exec.Cmd)                                           {}
func (t *Tree) PrepareAttr(a *syscall.SysProcAttr)                              {}
func (t *Tree) Started(pid int)                                                 {}
func (t *Tree) Kill(ctx context.Context) error                                  { return nil }
func (t *Tree) KillExcept(ctx context.Context, keep int, marks ...string) error { return nil }
func (t *Tree) Close() error                                                    { return nil }
func Marked(ctx context.Context, marks []string) error                          { return nil }
func Reap(ctx context.Context, name string, marks []string) error {
	return nil
}

func RemoveStale() {}

func RemoveIdle() {}
