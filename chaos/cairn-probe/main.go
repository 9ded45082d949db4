// Command cairn-probe serves the chaos harness's probe task type
// (chaos.Probe) as a Cairn plugin: every attempt appends its records to a
// ledger file outside Cairn, from a real subprocess of whichever cairn
// process ran it (server, worker or run), pinned like any plugin by the
// lock file of that process's home. Install it as docs/plugins.md says;
// docs/reliability.md shows how the harness uses it.
package main

import (
	"github.com/cairnml/cairn/chaos"
	"github.com/cairnml/cairn/plugins/sdk"
	"github.com/cairnml/cairn/tasks"
)

// version is the probe plugin's version, shown by `cairn plugins list`.
const version = "0.1.0"

func main() {
	sdk.Serve(sdk.Config{Version: version, Tasks: []tasks.Task{chaos.Probe{}}})
}
