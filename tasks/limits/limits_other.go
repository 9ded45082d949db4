//go:build !linux

package limits

import (
	"fmt"
	"runtime"

	"github.com/cairnml/cairn"
)

// Group is the cgroups an attempt's processes run in; never made on this
// system.
type Group struct {
	version Version
	res     cairn.Resources
}

// Apply fails: limits need Linux cgroups.
func Apply(treeCgroup string, r cairn.Resources) (*Group, error) {
	return nil, fmt.Errorf("%w: cgroups are Linux's, and this is %s", ErrUnavailable, runtime.GOOS)
}

// Version says how the limits are enforced.
func (g *Group) Version() Version { return g.version }

// Wrap returns prog and argv.
func (g *Group) Wrap(prog string, argv []string) (string, []string) { return prog, argv }

// Stats returns nothing.
func (g *Group) Stats() Stats { return Stats{} }

// OutOfMemory returns nil.
func (g *Group) OutOfMemory() error { return nil }

// Close does nothing.
func (g *Group) Close() error { return nil }

// RemoveStale fails like Apply.
func RemoveStale() error {
	_, err := Apply("", cairn.Resources{})
	return err
}
