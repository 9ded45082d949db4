package runjson

import (
	"sort"
	"time"

	"github.com/cairnml/cairn"
)

// The model registry's shapes: what `cairn models list|show|promote|rollback
// --json` print and GET/POST /api/v1/models... answer. Every key is always
// present, null when empty.

// ModelList is `{"models": [...]}`, by name.
type ModelList struct {
	Models []ModelSummary `json:"models"`
}

// ModelSummary is one model as listed: its production and newest
// versions, how many versions each stage holds, and the production
// version's metrics.
type ModelSummary struct {
	Name string `json:"name"`
	// Production is the version in production, null when none.
	Production *int `json:"production"`
	Newest     int  `json:"newest"`
	Versions   int  `json:"versions"`
	// Stages counts the versions in each stage: candidate, production
	// and archived, each always present.
	Stages map[cairn.ModelStage]int `json:"stages"`
	// Metrics are the production version's, null without one.
	Metrics   map[string]float64 `json:"metrics"`
	UpdatedAt time.Time          `json:"updated_at"` // the latest registration or change of stage
}

// Model is one model with every version (newest first) and its history
// of stages (oldest first).
type Model struct {
	Name       string         `json:"name"`
	Production *int           `json:"production"`
	Versions   []ModelVersion `json:"versions"`
	History    []StageChange  `json:"history"`
}

// StageChange is one change of stage in a model's history.
type StageChange struct {
	Version int               `json:"version"`
	From    *cairn.ModelStage `json:"from"` // null when the version was registered
	To      cairn.ModelStage  `json:"to"`
	Reason  string            `json:"reason"` // deploy, promote or rollback
	// Actor is the deploy attempt (RUN/TASK#N), a token id, or
	// cli:USER@HOST.
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
}

// ModelVersion is one version of a model.
type ModelVersion struct {
	Name    string             `json:"name"`
	Version int                `json:"version"`
	Ref     string             `json:"ref"` // model:NAME@VERSION
	Stage   cairn.ModelStage   `json:"stage"`
	Model   cairn.ArtifactRef  `json:"model"`
	Metrics map[string]float64 `json:"metrics"`
	// Report is the evaluation report the deploy named, null if none.
	Report *cairn.ArtifactRef `json:"report"`
	// Producer is the deploy attempt that registered it.
	Producer       cairn.AttemptRef `json:"producer"`
	CreatedAt      time.Time        `json:"created_at"`
	StageChangedAt time.Time        `json:"stage_changed_at"`
}

// ModelChange is what a promotion or a rollback did: the version moved,
// as it now is, the stage it left, and the version it took production
// from (now archived), if any. Changed is false when the version was at
// the stage already.
type ModelChange struct {
	Version  ModelVersion     `json:"version"`
	From     cairn.ModelStage `json:"from"`
	Replaced *int             `json:"replaced"`
	Changed  bool             `json:"changed"`
}

// FromModelVersion is v's shape.
func FromModelVersion(v *cairn.ModelVersion) ModelVersion {
	return ModelVersion{Name: v.Name, Version: v.Version, Ref: v.Ref(), Stage: v.Stage, Model: v.Model, Metrics: v.Metrics,
		Report: v.Report, Producer: v.Producer, CreatedAt: v.CreatedAt.UTC(), StageChangedAt: v.StageChangedAt.UTC()}
}

// Summarize is the summary of model name from its versions (any order).
func Summarize(name string, versions []*cairn.ModelVersion) ModelSummary {
	s := ModelSummary{Name: name, Versions: len(versions),
		Stages: map[cairn.ModelStage]int{cairn.StageCandidate: 0, cairn.StageProduction: 0, cairn.StageArchived: 0}}
	for _, v := range versions {
		s.Stages[v.Stage]++
		if v.Version > s.Newest {
			s.Newest = v.Version
		}
		if v.Stage == cairn.StageProduction {
			n := v.Version
			s.Production, s.Metrics = &n, v.Metrics
		}
		for _, t := range []time.Time{v.CreatedAt, v.StageChangedAt} {
			if t.After(s.UpdatedAt) {
				s.UpdatedAt = t.UTC()
			}
		}
	}
	return s
}

// FromModel is model name's shape from its versions (any order) and its
// history.
func FromModel(name string, versions []*cairn.ModelVersion, history []cairn.ModelStageChange) Model {
	m := Model{Name: name, Versions: make([]ModelVersion, 0, len(versions)), History: make([]StageChange, 0, len(history))}
	for _, v := range versions {
		m.Versions = append(m.Versions, FromModelVersion(v))
		if v.Stage == cairn.StageProduction {
			n := v.Version
			m.Production = &n
		}
	}
	sort.Slice(m.Versions, func(i, j int) bool { return m.Versions[i].Version > m.Versions[j].Version })
	for _, h := range history {
		c := StageChange{Version: h.Version, To: h.To, Reason: h.Reason, Actor: h.Actor, At: h.At.UTC()}
		if h.From != "" {
			from := h.From
			c.From = &from
		}
		m.History = append(m.History, c)
	}
	return m
}

// Rollout is a model's rollout as GET /api/v1/models/{name}/rollout and
// cairn models rollout show it: its state, the candidate's share, each
// version's live figures in the current step's window, what comes next
// and its history.
type Rollout struct {
	Name      string               `json:"name"`
	Strategy  string               `json:"strategy"`
	State     string               `json:"state"` // active, promoted or rolled_back
	Baseline  int                  `json:"baseline"`
	Candidate int                  `json:"candidate"`
	Share     int                  `json:"share"` // the candidate's percent of requests
	Step      int                  `json:"step"`  // from 0, in spec.steps (canary); -1 below its first step (a share set by hand)
	Paused    bool                 `json:"paused,omitempty"`
	StepAt    time.Time            `json:"step_at"`
	StartedAt time.Time            `json:"started_at"`
	Reason    string               `json:"reason,omitempty"`
	Spec      cairn.RolloutSpec    `json:"spec"`
	Versions  []RolloutVersion     `json:"versions"`
	Next      string               `json:"next"` // what the rollout waits for, or what it does next
	History   []cairn.RolloutEvent `json:"history"`
}

// RolloutVersion is one version's figures since the step began.
type RolloutVersion struct {
	Version   int     `json:"version"`
	Role      string  `json:"role"` // production or candidate
	Requests  int     `json:"requests"`
	Failed    int     `json:"failed"`
	ErrorRate float64 `json:"error_rate"`
	Labeled   int     `json:"labeled"`
	// Metric and Value are the live metric (accuracy, or mae for a
	// regressor); Value is null without feedback.
	Metric string   `json:"metric"`
	Value  *float64 `json:"value"`
	P99Ms  float64  `json:"p99_ms"`
}

// ModelAlerts are a model's own alerts as GET, PUT and DELETE
// /api/v1/models/{name}/alerts and cairn models alerts show them: each
// alert as stored (bound in seconds for a latency; window text, "" for
// the default), its webhook redacted; gen counts the times they were set
// (0: never); production is the version they watch now (0: none).
type ModelAlerts struct {
	Name       string             `json:"name"`
	Alerts     []cairn.ModelAlert `json:"alerts"`
	Gen        int                `json:"gen"`
	UpdatedAt  *time.Time         `json:"updated_at,omitempty"`
	Actor      string             `json:"actor,omitempty"`
	Production int                `json:"production"`
	// Drift is the drift the leader last measured of each version a
	// drift_above alert watches (absent when none was).
	Drift []cairn.ModelDrift `json:"drift,omitempty"`
}
