// Package runjson holds the JSON shapes of runs, tasks and attempts that
// scripts rely on (docs/cli.md): snake_case keys, every key always present
// — null when empty — and times in RFC 3339 UTC. The server's API
// (GET /api/v1/runs, /api/v1/runs/{id}) writes them, and they are the
// shapes `cairn runs --json` and `cairn show --json` print, so that a
// script reads the same document from either.
//
// The Go types are the convenient view (tests decode into them); their
// MarshalJSON methods write the stable shape. Standard library, the
// cairn vocabulary and auth only. The audit log's and the tokens' shapes
// (`cairn audit --json`, `cairn tokens list --json`) are here too.
package runjson

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
)

// Page is a page of runs and the cursor of the next page (the id to pass
// as before), nil on the last page: `{"runs": [...], "next": ...}`.
type Page struct {
	Runs []Run   `json:"runs"`
	Next *string `json:"next"`
	// NextOffset is the offset of the next page of a list ranked by a
	// metric (runs --sort); absent otherwise.
	NextOffset *int `json:"next_offset,omitempty"`
}

// Run is one run as `runs --json` prints it; with Tasks, as `show --json`
// does.
type Run struct {
	ID              string
	Workflow        string
	Digest          string
	SourcePath      string `json:"source_path"`
	State           cairn.RunState
	Orphaned        bool
	Owner           string
	Params          map[string]any
	Error           string
	CancelRequested bool `json:"cancel_requested"`
	// Trigger is what created the run; ScheduledFor its slot (cron,
	// backfill), nil for others.
	Trigger      cairn.Trigger
	ScheduledFor *time.Time `json:"scheduled_for"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	Tasks        []Task     // show only
	// Metrics are the metrics a list asked for (runs --metric), by
	// "task.metric"; nil when none was asked for.
	Metrics map[string]float64
}

// MarshalJSON writes the stable shape.
func (j Run) MarshalJSON() ([]byte, error) {
	type wire struct {
		ID              string              `json:"id"`
		Workflow        string              `json:"workflow"`
		Digest          string              `json:"digest"`
		SourcePath      string              `json:"source_path"`
		State           cairn.RunState      `json:"state"`
		Orphaned        bool                `json:"orphaned"`
		Owner           *string             `json:"owner"`
		Params          map[string]any      `json:"params"`
		Error           *string             `json:"error"`
		CancelRequested bool                `json:"cancel_requested"`
		Trigger         cairn.Trigger       `json:"trigger"`
		ScheduledFor    *time.Time          `json:"scheduled_for"`
		CreatedAt       *time.Time          `json:"created_at"`
		StartedAt       *time.Time          `json:"started_at"`
		FinishedAt      *time.Time          `json:"finished_at"`
		Tasks           []Task              `json:"tasks,omitempty"`
		Metrics         *map[string]float64 `json:"metrics,omitempty"`
	}
	w := wire{ID: j.ID, Workflow: j.Workflow, Digest: j.Digest, SourcePath: j.SourcePath, State: j.State,
		Orphaned: j.Orphaned, Owner: strPtr(j.Owner), Params: j.Params, Error: strPtr(j.Error),
		CancelRequested: j.CancelRequested, Trigger: j.Trigger, ScheduledFor: timePtr(j.ScheduledFor),
		CreatedAt: Time(j.CreatedAt), StartedAt: timePtr(j.StartedAt), FinishedAt: timePtr(j.FinishedAt), Tasks: j.Tasks}
	if j.Metrics != nil {
		w.Metrics = &j.Metrics // {} when the run has none of those asked for
	}
	if w.Trigger == "" {
		w.Trigger = cairn.TriggerManual
	}
	if len(w.Params) == 0 {
		w.Params = nil
	}
	return json.Marshal(w)
}

// Task is one task of a run with its attempts, as `show --json` prints it.
type Task struct {
	ID       string
	Type     string
	State    cairn.TaskState
	Attempts int
	// Interrupted counts the attempts that were interrupted (not failures).
	Interrupted int
	Error       string
	Params      json.RawMessage
	Inputs      map[string]cairn.ArtifactRef
	Outputs     map[string]json.RawMessage
	Metrics     map[string]float64
	GatePassed  *bool      `json:"gate_passed"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	DurationMS  *int64     `json:"duration_ms"`
	// Cache says whether the task may reuse an earlier success (and be
	// reused); CachedFrom names the attempt whose outputs its latest
	// attempt reused, nil when it ran.
	Cache      bool
	CachedFrom *cairn.AttemptRef `json:"cached_from"`
	Attempt    []Attempt         `json:"attempt_history"`
	// Labels and Queue are what the task requires of its worker (nil;
	// "default" for the default queue); Waiting, for a ready task that no
	// live worker may take, says why in one line (cairn.WhyWaiting).
	Labels  map[string]string
	Queue   string
	Waiting string
	// Items is, on a for_each task once expanded, its number of items;
	// Item and ItemIndex, on an item (train[3]), its value and position.
	// Each is left out of the JSON elsewhere.
	Items     *int
	Item      json.RawMessage
	ItemIndex *int `json:"item_index"`
}

// MarshalJSON writes the stable shape.
func (j Task) MarshalJSON() ([]byte, error) {
	type wire struct {
		ID          string                       `json:"id"`
		Type        string                       `json:"type"`
		State       cairn.TaskState              `json:"state"`
		Attempts    int                          `json:"attempts"`
		Interrupted int                          `json:"interrupted"`
		Error       *string                      `json:"error"`
		Params      json.RawMessage              `json:"params"`
		Inputs      map[string]cairn.ArtifactRef `json:"inputs"`
		Outputs     map[string]json.RawMessage   `json:"outputs"`
		Metrics     map[string]float64           `json:"metrics"`
		GatePassed  *bool                        `json:"gate_passed"`
		StartedAt   *time.Time                   `json:"started_at"`
		FinishedAt  *time.Time                   `json:"finished_at"`
		DurationMS  *int64                       `json:"duration_ms"`
		Cache       bool                         `json:"cache"`
		CachedFrom  *cairn.AttemptRef            `json:"cached_from"`
		Attempt     []Attempt                    `json:"attempt_history"`
		Labels      map[string]string            `json:"labels"`
		Queue       string                       `json:"queue"`
		Waiting     *string                      `json:"waiting"`
		Items       *int                         `json:"items,omitempty"`
		Item        json.RawMessage              `json:"item,omitempty"`
		ItemIndex   *int                         `json:"item_index,omitempty"`
	}
	w := wire{ID: j.ID, Type: j.Type, State: j.State, Attempts: j.Attempts, Interrupted: j.Interrupted, Error: strPtr(j.Error),
		Params: j.Params, Inputs: j.Inputs, Outputs: j.Outputs, Metrics: j.Metrics, GatePassed: j.GatePassed,
		StartedAt: timePtr(j.StartedAt), FinishedAt: timePtr(j.FinishedAt), DurationMS: j.DurationMS,
		Cache: j.Cache, CachedFrom: j.CachedFrom, Attempt: j.Attempt, Labels: j.Labels, Queue: cairn.QueueName(cairn.StoredQueue(j.Queue)),
		Waiting: strPtr(j.Waiting), Items: j.Items, Item: j.Item, ItemIndex: j.ItemIndex}
	if len(w.Labels) == 0 {
		w.Labels = nil
	}
	if len(w.Params) == 0 || string(w.Params) == "null" {
		w.Params = nil
	}
	if len(w.Inputs) == 0 {
		w.Inputs = nil
	}
	if len(w.Outputs) == 0 {
		w.Outputs = nil
	}
	if len(w.Metrics) == 0 {
		w.Metrics = nil
	}
	if len(w.Attempt) == 0 {
		w.Attempt = nil
	}
	return json.Marshal(w)
}

// Attempt is one attempt of a task.
type Attempt struct {
	Number     int
	State      cairn.TaskState
	Worker     string
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string
	ExitCode   *int `json:"exit_code"`
	Stack      string
	Plugin     *cairn.PluginRef
	// CachedFrom names the attempt whose outputs this one reused instead
	// of running; nil when it ran.
	CachedFrom *cairn.AttemptRef `json:"cached_from"`
}

// MarshalJSON writes the stable shape.
func (j Attempt) MarshalJSON() ([]byte, error) {
	type wire struct {
		Number     int               `json:"number"`
		State      cairn.TaskState   `json:"state"`
		Worker     *string           `json:"worker"`
		StartedAt  *time.Time        `json:"started_at"`
		FinishedAt *time.Time        `json:"finished_at"`
		Error      *string           `json:"error"`
		ExitCode   *int              `json:"exit_code"`
		Stack      *string           `json:"stack"`
		Plugin     *cairn.PluginRef  `json:"plugin"`
		CachedFrom *cairn.AttemptRef `json:"cached_from"`
	}
	return json.Marshal(wire{Number: j.Number, State: j.State, Worker: strPtr(j.Worker), StartedAt: Time(j.StartedAt),
		FinishedAt: timePtr(j.FinishedAt), Error: strPtr(j.Error), ExitCode: j.ExitCode, Stack: strPtr(j.Stack),
		Plugin: j.Plugin, CachedFrom: j.CachedFrom})
}

// FromRun is run r's shape; orphaned says whether it is unfinished with
// nobody driving it (see Orphaned). The owner is shown only while the run
// is unfinished.
func FromRun(r *cairn.Run, orphaned bool) Run {
	j := Run{ID: r.ID, Workflow: r.Workflow, Digest: r.Digest, SourcePath: r.SourcePath, State: r.State,
		Orphaned: orphaned, Params: r.Params, Error: r.Error, CancelRequested: r.CancelRequested,
		Trigger: r.Trigger, ScheduledFor: Time(r.ScheduledFor), CreatedAt: r.CreatedAt, StartedAt: Time(r.StartedAt), FinishedAt: Time(r.FinishedAt)}
	if !r.State.Terminal() {
		j.Owner = r.Owner
	}
	return j
}

// FromTask is task run tr's shape with its attempts, oldest first.
func FromTask(tr *cairn.TaskRun, atts []*cairn.Attempt) Task {
	tj := Task{ID: tr.TaskID, Type: tr.Type, State: tr.State, Attempts: tr.Attempt, Interrupted: tr.Interrupted, Error: tr.Error,
		Params: cairn.RedactWebhookParams(tr.Params), Inputs: tr.Inputs, Outputs: tr.Outputs, Metrics: tr.Metrics,
		StartedAt: Time(tr.StartedAt), FinishedAt: Time(tr.FinishedAt), Cache: tr.Cache,
		Labels: tr.Labels, Queue: cairn.QueueName(tr.Queue)}
	if tr.Expanded {
		n := tr.Items
		tj.Items = &n
	}
	if _, k, ok := cairn.ParseItemID(tr.TaskID); ok {
		tj.Item, tj.ItemIndex = tr.Item, &k
	}
	if n := len(atts); tr.State == cairn.TaskSucceeded && n > 0 && !atts[n-1].CachedFrom.IsZero() {
		from := atts[n-1].CachedFrom
		tj.CachedFrom = &from
	}
	if raw, ok := tr.Outputs["passed"]; ok {
		var passed bool
		if json.Unmarshal(raw, &passed) == nil {
			tj.GatePassed = &passed
		}
	}
	if tj.StartedAt == nil && len(atts) > 0 {
		tj.StartedAt = Time(atts[0].StartedAt)
	}
	if d, ok := TaskDuration(tr, atts); ok {
		ms := d.Milliseconds()
		tj.DurationMS = &ms
	}
	for _, at := range atts {
		tj.Attempt = append(tj.Attempt, FromAttempt(at))
	}
	return tj
}

// WriteIndented writes run j as JSON indented by two spaces and a newline,
// byte for byte what a json.Encoder with SetIndent("", "  ") writes, but
// one task at a time: a run of 100,000 tasks is never one buffer (nor
// compacted and indented again as a whole).
func WriteIndented(w io.Writer, j Run) error {
	tasks := j.Tasks
	if len(tasks) == 0 || j.Metrics != nil { // tasks is the last field only without metrics
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(j)
	}
	j.Tasks = nil
	head, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(head[:len(head)-len("\n}")])
	bw.WriteString(",\n  \"tasks\": [")
	for i, t := range tasks {
		b, err := json.MarshalIndent(t, "    ", "  ")
		if err != nil {
			return fmt.Errorf("task %s: %w", t.ID, err)
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(b)
	}
	bw.WriteString("\n  ]\n}\n")
	return bw.Flush()
}

// Tasks is the shape of a run's tasks trs with their attempts atts (by
// task id) and, for those a worker must be found for, why they wait
// (waiting, by task id): a for_each task spans its items.
func Tasks(trs []*cairn.TaskRun, atts map[string][]*cairn.Attempt, waiting map[string]string) []Task {
	items := ItemAttempts(trs, atts)
	out := make([]Task, 0, len(trs))
	for _, tr := range trs {
		tj := FromTask(tr, atts[tr.TaskID])
		tj.SpanItems(tr, items[tr.TaskID])
		tj.Waiting = waiting[tr.TaskID]
		out = append(out, tj)
	}
	return out
}

// ItemAttempts gathers, for each for_each task of trs, the attempts of
// its items, earliest start first. A for_each task has no attempt of its
// own: where a row shows a task's attempts, its duration and its bar (show,
// the run page, the API's duration), its items' attempts stand for it.
func ItemAttempts(trs []*cairn.TaskRun, atts map[string][]*cairn.Attempt) map[string][]*cairn.Attempt {
	var out map[string][]*cairn.Attempt
	for _, tr := range trs {
		parent, _, ok := cairn.ParseItemID(tr.TaskID)
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string][]*cairn.Attempt)
		}
		out[parent] = append(out[parent], atts[tr.TaskID]...)
	}
	for _, as := range out {
		slices.SortStableFunc(as, func(a, b *cairn.Attempt) int { return a.StartedAt.Compare(b.StartedAt) })
	}
	return out
}

// AttemptsText is a task's ATTEMPTS cell (show, the run page): how many
// attempts it made, and how many of them were interrupted (not failures).
// A for_each task's are its items' (items, from ItemAttempts).
func AttemptsText(tr *cairn.TaskRun, items []*cairn.Attempt) string {
	n, interrupted := tr.Attempt, tr.Interrupted
	if len(items) > 0 {
		n, interrupted = len(items), 0
		for _, at := range items {
			if at.State == cairn.AttemptInterrupted {
				interrupted++
			}
		}
	}
	if interrupted == 0 {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%d (%d interrupted)", n, interrupted)
}

// SpanItems gives task j, a for_each task, the start and the duration of
// its items (their attempts, from ItemAttempts): from the first item's
// start to the task's end. Its attempts and history stay its own (none).
func (j *Task) SpanItems(tr *cairn.TaskRun, items []*cairn.Attempt) {
	if len(items) == 0 {
		return
	}
	j.StartedAt = Time(items[0].StartedAt)
	if d, ok := TaskDuration(tr, items); ok {
		ms := d.Milliseconds()
		j.DurationMS = &ms
	}
}

// FromAttempt is attempt at's shape.
func FromAttempt(at *cairn.Attempt) Attempt {
	j := Attempt{Number: at.Number, State: at.State, Worker: at.Worker, StartedAt: at.StartedAt,
		FinishedAt: Time(at.FinishedAt), Error: at.Error, ExitCode: at.ExitCode, Stack: at.Stack, Plugin: at.Plugin}
	if !at.CachedFrom.IsZero() {
		from := at.CachedFrom
		j.CachedFrom = &from
	}
	return j
}

// TaskDuration is the time from a task's first attempt's start to its end;
// false while it has not ended or never ran.
func TaskDuration(tr *cairn.TaskRun, atts []*cairn.Attempt) (time.Duration, bool) {
	if len(atts) == 0 || tr.FinishedAt.IsZero() {
		return 0, false
	}
	return tr.FinishedAt.Sub(atts[0].StartedAt), true
}

// Orphaned reports whether run r is unfinished and nobody drives it: it
// has an owner whose claim expired before now, or whose process gone
// says is gone (nil: the claim's expiry alone decides), or it is running
// and its owner let it go (a cairn server that stopped). A queued run
// nobody claimed waits for a server: not orphaned. cairn runs and show
// say the same (cmd/cairn's orphaned).
func Orphaned(r *cairn.Run, now time.Time, gone func(owner string) bool) bool {
	if r.State.Terminal() {
		return false
	}
	if r.Owner == "" {
		return r.State == cairn.RunRunning
	}
	return r.OwnerExpiresAt.Before(now) || (gone != nil && gone(r.Owner))
}

// Time is t in UTC for JSON; nil (null) for the zero time.
func Time(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return Time(*t)
}

// strPtr is s for JSON: nil (null) when empty.
func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// AuditPage is a page of the audit log, newest first, and the cursor of
// the next page (the id to pass as before), nil on the last page:
// `{"entries": [...], "next": ...}`, what `cairn audit --json` prints and
// GET /api/v1/audit answers.
type AuditPage struct {
	Entries []Audit `json:"entries"`
	Next    *int64  `json:"next"`
}

// Audit is one entry of the audit log.
type Audit struct {
	ID     int64
	At     time.Time
	Actor  string          // a token id, or cli:USER@HOST
	Action string          // trigger, cancel, retry, resume, token.create, token.revoke
	RunID  string          `json:"run_id"`
	TaskID string          `json:"task_id"`
	Detail json.RawMessage // a JSON object, or empty
}

// MarshalJSON writes the stable shape: run_id, task_id and detail are
// null when empty.
func (j Audit) MarshalJSON() ([]byte, error) {
	type wire struct {
		ID     int64           `json:"id"`
		At     time.Time       `json:"at"`
		Actor  string          `json:"actor"`
		Action string          `json:"action"`
		RunID  *string         `json:"run_id"`
		TaskID *string         `json:"task_id"`
		Detail json.RawMessage `json:"detail"`
	}
	w := wire{ID: j.ID, At: j.At.UTC(), Actor: j.Actor, Action: j.Action, RunID: nonEmpty(j.RunID), TaskID: nonEmpty(j.TaskID), Detail: json.RawMessage("null")}
	if len(j.Detail) > 0 && json.Valid(j.Detail) {
		w.Detail = j.Detail
	}
	return json.Marshal(w)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// TokenList is what `cairn tokens list --json` prints and GET
// /api/v1/tokens answers: `{"tokens": [...]}`, newest first, never a
// secret nor a hash.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// Token is one API token as listed.
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       auth.Role  `json:"role"`
	State      string     `json:"state"` // valid, expired or revoked
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// FromToken is t as listed at now.
func FromToken(t auth.Token, now time.Time) Token {
	state := "valid"
	switch err := t.Valid(now); {
	case errors.Is(err, auth.ErrRevoked):
		state = "revoked"
	case errors.Is(err, auth.ErrExpired):
		state = "expired"
	}
	return Token{ID: t.ID, Name: t.Name, Role: t.Role, State: state, CreatedAt: t.CreatedAt.UTC(),
		ExpiresAt: utcOrNil(t.ExpiresAt), LastUsedAt: utcOrNil(t.LastUsedAt), RevokedAt: utcOrNil(t.RevokedAt)}
}

func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Schedules is the answer of `cairn schedules list --json` and GET
// /api/v1/schedules: `{"schedules": [...]}`, by workflow name.
type Schedules struct {
	Schedules []Schedule `json:"schedules"`
}

// Schedule is where one workflow's schedule stands.
type Schedule struct {
	Workflow string
	// File is the file of the server's workflows folder that declares
	// it; "" when read from a home without a server's folder.
	File     string
	Cron     string
	Timezone string
	Catchup  string
	Start    *time.Time
	End      *time.Time
	Paused   bool
	// LastSlot is the latest slot handled (run, or skipped as missed);
	// nil before a server first read the schedule.
	LastSlot *time.Time `json:"last_slot"`
	// NextSlot is the next slot that fires (once resumed, when paused);
	// nil when the schedule has no more (past its end).
	NextSlot *time.Time `json:"next_slot"`
	// Error says why the schedule does not fire, if it does not.
	Error string
}

// MarshalJSON writes the stable shape.
func (j Schedule) MarshalJSON() ([]byte, error) {
	type wire struct {
		Workflow string     `json:"workflow"`
		File     *string    `json:"file"`
		Cron     string     `json:"cron"`
		Timezone string     `json:"timezone"`
		Catchup  string     `json:"catchup"`
		Start    *time.Time `json:"start"`
		End      *time.Time `json:"end"`
		Paused   bool       `json:"paused"`
		LastSlot *time.Time `json:"last_slot"`
		NextSlot *time.Time `json:"next_slot"`
		Error    *string    `json:"error"`
	}
	return json.Marshal(wire{Workflow: j.Workflow, File: strPtr(j.File), Cron: j.Cron, Timezone: j.Timezone, Catchup: j.Catchup,
		Start: timePtr(j.Start), End: timePtr(j.End), Paused: j.Paused, LastSlot: timePtr(j.LastSlot), NextSlot: timePtr(j.NextSlot),
		Error: strPtr(j.Error)})
}

// Backfill is the answer of a backfill: the runs it queued, oldest slot
// first, and how many of the range's slots had a run already.
type Backfill struct {
	Workflow string   `json:"workflow"`
	Slots    int      `json:"slots"`
	Created  []string `json:"created"`
	Existing int      `json:"existing"`
}

// Alert is one alert of the outbox, as cairn alerts list --json and GET
// /api/v1/alerts write it. Webhook is redacted to its scheme, host and
// first path segment: a webhook's URL is often its credential.
type Alert struct {
	ID       int64  `json:"id"`
	Key      string `json:"idempotency_key"`
	RunID    string `json:"run_id"`
	Workflow string `json:"workflow"`
	Event    string `json:"event"`
	Task     string `json:"task,omitempty"`
	// Model, Version, Value and Bound are a per-model alert's (run_id and
	// workflow are "" then; value and bound in seconds for a latency).
	Model     string     `json:"model,omitempty"`
	Version   int        `json:"version,omitempty"`
	Value     *float64   `json:"value,omitempty"`
	Bound     *float64   `json:"bound,omitempty"`
	Detail    string     `json:"detail,omitempty"`
	Webhook   string     `json:"webhook"`
	Format    string     `json:"format"`
	State     string     `json:"state"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error,omitempty"`
	NextAt    *time.Time `json:"next_at"`
	CreatedAt time.Time  `json:"created_at"`
	DoneAt    *time.Time `json:"done_at"`
}

// AlertPage is a page of alerts, newest first; Next is the cursor
// (before=) of the next page, nil on the last.
type AlertPage struct {
	Alerts []Alert `json:"alerts"`
	Next   *int64  `json:"next"`
}

// FromAlert is a's JSON shape.
func FromAlert(a cairn.Alert) Alert {
	j := Alert{ID: a.ID, Key: a.Key, RunID: a.RunID, Workflow: a.Workflow, Event: string(a.Event), Task: a.TaskID, Detail: a.Detail,
		Webhook: cairn.RedactWebhook(a.Webhook), Format: a.Format, State: string(a.State), Attempts: a.Attempts,
		LastError: a.LastError, CreatedAt: a.CreatedAt.UTC(), DoneAt: Time(a.DoneAt)}
	if a.State == cairn.AlertPending {
		j.NextAt = Time(a.NextAt)
	}
	if a.Model != "" {
		value, bound := a.Value, a.Bound
		j.Model, j.Version, j.Value, j.Bound = a.Model, a.Version, &value, &bound
	}
	return j
}
