// Command kmeans is Cairn's example plugin: it serves the "kmeans" task
// type (k-means clustering of a CSV's numeric columns, package
// tasks/ml/cluster) from its own binary. `make plugins` builds it into
// bin/plugins/; docs/plugins.md shows how to install and pin it.
package main

import (
	"github.com/cairnml/cairn/plugins/sdk"
	"github.com/cairnml/cairn/tasks"
)

// version is this plugin's version, shown by `cairn plugins list`.
const version = "0.1.0"

func main() {
	sdk.Serve(sdk.Config{Version: version, Tasks: []tasks.Task{kmeans{}}})
}
