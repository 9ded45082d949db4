package cairn

import "time"

// LineageGraph is a connected part of the lineage graph as a store reads
// it for a query (cairn lineage): the edges of the attempts it holds,
// and the attempts, artifacts, runs and model versions those edges name.
type LineageGraph struct {
	// Edges of every attempt of the graph, inputs and outputs, ordered
	// by attempt, direction ("in" first) and port.
	Edges []LineageEdge
	// Attempts named by Edges, in the order of their run, task and number.
	Attempts []*Attempt
	// Artifacts named by Edges and the roots, by digest.
	Artifacts []*ArtifactRecord
	// Writers are, for each artifact of the graph, up to MaxWriters of the
	// attempts that wrote it, first producer first, and WriterCount how
	// many did in all (identical bytes written again, a cache's reuse, a
	// reproduced run).
	Writers     map[string][]AttemptRef
	WriterCount map[string]int
	// Models are the model versions registered from an artifact of the
	// graph, by name and version.
	Models []*ModelVersion
	// Runs are the runs of the attempts, by id.
	Runs []*LineageRun
}

// MaxWriters bounds LineageGraph.Writers per artifact.
const MaxWriters = 5

// LineageRun is what a lineage query tells of a run: what names its
// attempts' jobs.
type LineageRun struct {
	ID          string    `json:"id"`
	Workflow    string    `json:"workflow"`
	Digest      string    `json:"workflow_digest"`
	State       RunState  `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	ReproduceOf string    `json:"reproduce_of,omitempty"`
}
