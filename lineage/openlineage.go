package lineage

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// OpenLineage run events (https://openlineage.io, spec 2-0-2): each
// attempt of a graph is one OpenLineage run of the job WORKFLOW.TASK, told
// by a START event and an end event (COMPLETE, FAIL or ABORT). The
// mapping is in docs/lineage.md.

// The schemas the events and their facets follow.
const (
	OLRunEventSchema    = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
	olNominalTimeSchema = "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet"
	olParentSchema      = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
	olErrorSchema       = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
	olJobTypeSchema     = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
	olVersionSchema     = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
	olSchemaSchema      = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
	// olCairnSchema documents Cairn's own run facet, cairn_attempt.
	olCairnSchema = "https://github.com/cairnml/cairn/blob/main/docs/lineage.md#the-cairn_attempt-run-facet"
)

// DefaultProducer is the producer URI of the events.
const DefaultProducer = "https://github.com/cairnml/cairn"

// DatasetNamespace is the namespace of every artifact's data set: an
// artifact is named by its digest, which is the same wherever it is.
const DatasetNamespace = "cairn"

// OLOptions say how attempts become events.
type OLOptions struct {
	// Namespace is the jobs' namespace: the Cairn home's path or the
	// server's name. Required.
	Namespace string
	// Producer is the events' producer URI (DefaultProducer when "").
	Producer string
	// Fields, if set, returns the columns of a CSV artifact (nil when not
	// known or not CSV), for the data set's schema facet.
	Fields func(a *Artifact) []string
}

// RunEvent is an OpenLineage run event.
type RunEvent struct {
	EventTime string     `json:"eventTime"`
	EventType string     `json:"eventType"`
	Producer  string     `json:"producer"`
	SchemaURL string     `json:"schemaURL"`
	Run       OLRun      `json:"run"`
	Job       OLJob      `json:"job"`
	Inputs    []OLDatset `json:"inputs"`
	Outputs   []OLDatset `json:"outputs"`
}

// OLRun is an event's run.
type OLRun struct {
	RunID  string         `json:"runId"`
	Facets map[string]any `json:"facets,omitempty"`
}

// OLJob is an event's job.
type OLJob struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Facets    map[string]any `json:"facets,omitempty"`
}

// OLDatset is an input or output data set.
type OLDatset struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Facets    map[string]any `json:"facets,omitempty"`
}

// facet is the base of every facet.
type facet struct {
	Producer  string `json:"_producer"`
	SchemaURL string `json:"_schemaURL"`
}

// cairnNamespace is the namespace of the name-based UUIDs of runs.
var cairnNamespace = [16]byte{0x6f, 0x1b, 0x7d, 0x3e, 0x5a, 0x0c, 0x4c, 0x2e, 0x9b, 0x8a, 0x2d, 0x4f, 0x0e, 0x6c, 0x1a, 0x57}

// RunUUID is the OpenLineage run id of a Cairn attempt or run: a UUID of
// version 5 (name-based, SHA-1) of name ("attempt:RUN/TASK#N" or
// "run:RUN"), so that it is the same at every export.
func RunUUID(name string) string {
	h := sha1.New()
	h.Write(cairnNamespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	s := hex.EncodeToString(u[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// JobName is the OpenLineage job of a task: WORKFLOW.TASK.
func JobName(workflow, task string) string { return workflow + "." + task }

func olTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// endType is the event type an attempt's end is: COMPLETE for a success,
// FAIL for a failure (retried or not), ABORT for one cancelled or
// interrupted.
func endType(state string) string {
	switch state {
	case "succeeded":
		return "COMPLETE"
	case "failed", "retrying":
		return "FAIL"
	}
	return "ABORT"
}

// OpenLineage returns the run events of the attempts of g, a START and
// an end event each, in the order of their times.
func OpenLineage(g *Graph, o OLOptions) ([]RunEvent, error) {
	if o.Namespace == "" {
		return nil, errors.New("openlineage: a job namespace is required")
	}
	if o.Producer == "" {
		o.Producer = DefaultProducer
	}
	x := newIndex(g)
	base := func(schema string) facet { return facet{Producer: o.Producer, SchemaURL: schema} }
	fieldsOf := map[string][]string{}
	dataset := func(d string, output bool) OLDatset {
		facets := map[string]any{
			"version": struct {
				facet
				Version string `json:"datasetVersion"`
			}{base(olVersionSchema), d},
		}
		if a := x.artifacts[d]; a != nil && o.Fields != nil {
			cols, ok := fieldsOf[d]
			if !ok {
				cols = o.Fields(a)
				fieldsOf[d] = cols
			}
			if len(cols) > 0 {
				type field struct {
					Name string `json:"name"`
					Pos  int    `json:"ordinal_position"`
				}
				fs := make([]field, len(cols))
				for i, c := range cols {
					fs[i] = field{c, i + 1}
				}
				facets["schema"] = struct {
					facet
					Fields []field `json:"fields"`
				}{base(olSchemaSchema), fs}
			}
		}
		return OLDatset{Namespace: DatasetNamespace, Name: d, Facets: facets}
	}
	var events []RunEvent
	for _, a := range g.Attempts {
		job := OLJob{Namespace: o.Namespace, Name: JobName(a.Workflow, a.Task), Facets: map[string]any{
			"jobType": struct {
				facet
				Processing  string `json:"processingType"`
				Integration string `json:"integration"`
				JobType     string `json:"jobType"`
			}{base(olJobTypeSchema), "BATCH", "CAIRN", "TASK"},
		}}
		parentRun := RunUUID("run:" + a.Run)
		parentJob := struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		}{o.Namespace, a.Workflow}
		type runRef struct {
			RunID string `json:"runId"`
		}
		type jobRef = struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		}
		facets := func(end bool) map[string]any {
			f := map[string]any{
				"nominalTime": struct {
					facet
					Start string `json:"nominalStartTime"`
				}{base(olNominalTimeSchema), olTime(a.RunCreatedAt)},
				"parent": struct {
					facet
					Run  runRef `json:"run"`
					Job  jobRef `json:"job"`
					Root struct {
						Run runRef `json:"run"`
						Job jobRef `json:"job"`
					} `json:"root"`
				}{base(olParentSchema), runRef{parentRun}, parentJob, struct {
					Run runRef `json:"run"`
					Job jobRef `json:"job"`
				}{runRef{parentRun}, parentJob}},
				"cairn_attempt": struct {
					facet
					Attempt    string          `json:"attempt"`
					Type       string          `json:"type"`
					Version    string          `json:"version"`
					State      string          `json:"state,omitempty"`
					Params     json.RawMessage `json:"params,omitempty"`
					CachedFrom string          `json:"cachedFrom,omitempty"`
					Workflow   string          `json:"workflowDigest,omitempty"`
				}{base(olCairnSchema), a.ID, a.Type, a.Version, stateIf(end, a.State), validJSON(a.Params), a.CachedFrom, a.WorkflowDigest},
			}
			if end && a.Error != "" && a.State != "succeeded" {
				f["errorMessage"] = struct {
					facet
					Message  string `json:"message"`
					Language string `json:"programmingLanguage"`
				}{base(olErrorSchema), a.Error, "GO"}
			}
			return f
		}
		var inputs, outputs []OLDatset
		for _, p := range sortedPorts(a.Inputs) {
			inputs = append(inputs, dataset(a.Inputs[p], false))
		}
		for _, p := range sortedPorts(a.Outputs) {
			outputs = append(outputs, dataset(a.Outputs[p], true))
		}
		runID := RunUUID("attempt:" + a.ID)
		start, end := a.StartedAt, a.FinishedAt
		if start.IsZero() {
			start = end
		}
		events = append(events,
			RunEvent{EventTime: olTime(start), EventType: "START", Producer: o.Producer, SchemaURL: OLRunEventSchema,
				Run: OLRun{RunID: runID, Facets: facets(false)}, Job: job, Inputs: nonNil(inputs), Outputs: []OLDatset{}},
			RunEvent{EventTime: olTime(end), EventType: endType(a.State), Producer: o.Producer, SchemaURL: OLRunEventSchema,
				Run: OLRun{RunID: runID, Facets: facets(true)}, Job: job, Inputs: nonNil(inputs), Outputs: nonNil(outputs)})
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].EventTime < events[j].EventTime })
	return events, nil
}

func stateIf(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

func validJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

func nonNil(ds []OLDatset) []OLDatset {
	if ds == nil {
		return []OLDatset{}
	}
	return ds
}

// WriteOpenLineage writes the events of g as JSON Lines: one event a
// line, what OpenLineage's file transport and most collectors read.
func WriteOpenLineage(w io.Writer, g *Graph, o OLOptions) error {
	events, err := OpenLineage(g, o)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("encode an openlineage event: %w", err)
		}
	}
	return bw.Flush()
}

// MaxHeaderBytes bounds what CSVHeader reads.
const MaxHeaderBytes = 64 << 10

// IsCSV reports whether a media type is a CSV data set's.
func IsCSV(mediaType string) bool {
	mt, _, _ := strings.Cut(mediaType, ";")
	return strings.TrimSpace(strings.ToLower(mt)) == "text/csv"
}

// CSVHeader reads the column names of a CSV data set from its first
// record, reading at most MaxHeaderBytes; nil when there is none.
func CSVHeader(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxHeaderBytes))
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else if len(b) == MaxHeaderBytes {
		return nil, fmt.Errorf("the header is longer than %d bytes", MaxHeaderBytes)
	}
	rec, err := csv.NewReader(bytes.NewReader(b)).Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the header: %w", err)
	}
	return rec, nil
}
