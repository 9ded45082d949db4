package sdk

import (
	"fmt"
	"os"

	"github.com/cairnml/cairn/plugins/internal/wire"
	"github.com/cairnml/cairn/tasks"
)

// ProtocolVersion is the plugin protocol version this SDK speaks; a host
// that speaks another refuses the plugin at its handshake, naming both.
const ProtocolVersion = wire.ProtocolVersion

// Config is what a plugin serves.
type Config struct {
	// Version is the plugin's own version ("1.4.0"); it is shown by
	// `cairn plugins list` and written in the log of every attempt.
	Version string
	// Tasks are the task types the plugin provides; their names must be
	// unique and not those of built-in types.
	Tasks []tasks.Task
}

// Check reports what is wrong with c: no version, no tasks, an empty or
// repeated type name, a type declaring a param named env (the host adds
// that param to every plugin type: see docs/plugins.md).
func (c Config) Check() error {
	if c.Version == "" {
		return fmt.Errorf("sdk: Config.Version is empty: give the plugin a version such as \"0.1.0\"")
	}
	if len(c.Tasks) == 0 {
		return fmt.Errorf("sdk: Config.Tasks is empty: a plugin serves at least one task type")
	}
	seen := map[string]bool{}
	for _, t := range c.Tasks {
		name := t.Info().Name
		if name == "" {
			return fmt.Errorf("sdk: task type %T has an empty Info().Name", t)
		}
		if seen[name] {
			return fmt.Errorf("sdk: task type %q is given twice", name)
		}
		seen[name] = true
		if _, clash := t.Info().Param(wire.EnvParam); clash {
			return fmt.Errorf("sdk: task type %q declares a param %q, which cairn reserves: it gives every plugin task environment variables; rename the param", name, wire.EnvParam)
		}
	}
	return nil
}

// Serve serves c's task types to the cairn host that started this binary
// and returns only when the host ends the plugin. A bad Config is
// reported on stderr with exit status 2; run by hand (not by cairn), the
// binary says it is a plugin and exits 1.
func Serve(c Config) {
	if err := c.Check(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	wire.Serve(c.Version, wire.ProtocolVersion, c.Tasks)
}
