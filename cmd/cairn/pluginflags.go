package main

import "flag"

const pluginsHelp = `Plugins are task types served by separate binaries in the plugins folder
(--plugins-dir, default HOME/plugins). A binary is started only if its sha256
is pinned in HOME/plugins.lock: cairn copies the pinned bytes into
HOME/.plugin-cache as it hashes them and runs only that copy, so a binary
that changed is refused and never runs. With no lock file no plugin runs.

  cairn plugins list [--json]   each plugin: version, protocol version, sha256, task types,
                                or why it is not loaded (exit 1 if any is not)
  cairn plugins lock            pin every executable in the plugins folder (replacing the
                                lock file), then list them as loaded under the new pins

Lock only binaries you trust: pinning is what lets them run. See docs/plugins.md.`

// pluginsFlagSet is cairn plugins' flags (--json), which both builds parse:
// the lean one answers --help and refuses a bad flag itself, and hands off
// only a command line that parses.
func (a *app) pluginsFlagSet() (*flag.FlagSet, *bool) {
	fs := a.newFlags("plugins", "list|lock [--json]", pluginsHelp)
	return fs, fs.Bool("json", false, "list: print JSON")
}
