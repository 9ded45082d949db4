// Package core is what cairn's API and its command line share, without
// the HTTP server: the interfaces through which the server's pages and
// API read and change the home's database (Reader, ModelRegistry,
// RolloutReader, ...), the reads and changes both answer with, in one
// shape (RunsWithMetrics, CompareRuns, AlertList, ModelDetail,
// PromoteModel, ChangeRollout, SetModelAlerts, Waiting...), which `cairn`
// runs on a home's database as the API does on the server's, and the
// vocabulary of the write side (Actions, Schedules, Caller, and the
// errors the API answers with their statuses: ErrBadInput). Package ui
// serves them over HTTP on gin; this package is gin-free, so that the
// command line's lean build links no HTTP framework.
package core

import (
	"context"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/scheduler"
)

// APIPrefix is where the JSON API lives.
const APIPrefix = "/api/v1"

// Reader is what the pages and the API read runs through: the read
// methods of scheduler.RunStore, with their meaning.
type Reader interface {
	GetRun(ctx context.Context, id string) (*cairn.Run, error)
	RunSources(ctx context.Context, id string) (map[string][]byte, error)
	ResolveRunID(ctx context.Context, prefix string) (string, error)
	ListRuns(ctx context.Context, f scheduler.RunFilter) ([]*cairn.Run, error)
	ListTaskRuns(ctx context.Context, runID string) ([]*cairn.TaskRun, error)
	ListAttempts(ctx context.Context, runID, taskID string) ([]*cairn.Attempt, error)
}

// WorkerLister lists the registered workers live at now or seen since
// (*sqlite.Store and *postgres.Store satisfy it).
type WorkerLister interface {
	ListWorkers(ctx context.Context, now, since time.Time) ([]cairn.Worker, error)
}

// Tokens is what token authentication reads and changes: the server's
// API tokens (*sqlite.Store satisfies it), and cairn tokens lists and
// revokes them through it. Errors of the first two wrap
// auth.ErrInvalid for a token that is not accepted.
type Tokens interface {
	// AuthenticateToken returns the valid token whose text was presented.
	AuthenticateToken(ctx context.Context, text string) (auth.Token, error)
	// ValidToken returns token id if it is still valid (a session's).
	ValidToken(ctx context.Context, id string) (auth.Token, error)
	// CountValidTokens counts the tokens neither expired nor revoked.
	CountValidTokens(ctx context.Context) (int, error)
	// ListTokens returns every token, newest first.
	ListTokens(ctx context.Context) ([]auth.Token, error)
	// RevokeToken revokes token id, recorded in the audit log by actor.
	RevokeToken(ctx context.Context, id, actor string) (auth.Token, error)
}

// AuditReader reads the audit log: scheduler.AuditStore (*sqlite.Store
// satisfies it).
type AuditReader interface {
	ListAudit(ctx context.Context, f scheduler.AuditFilter) ([]scheduler.Audit, error)
}

// LineageReader is what the lineage routes read: lineage's queries, and
// an artifact's edges and model versions. *sqlite.Store satisfies it.
type LineageReader interface {
	lineage.Store
	ArtifactEdges(ctx context.Context, digest, dir string) ([]cairn.LineageEdge, error)
	ModelsOf(ctx context.Context, digest string) ([]*cairn.ModelVersion, error)
}

// MinuteReader is what the models page's charts over time read (the
// per-minute figures the leader writes: *sqlite.Store and
// *postgres.Store satisfy it).
type MinuteReader interface {
	ModelMinutes(ctx context.Context, name string, since time.Time) ([]cairn.ModelMinute, error)
}

// DefaultPredictMaxBodyBytes bounds a predict request's body unless the
// server's Options.PredictMaxBodyBytes (cairn server --predict-max-body)
// says otherwise: 10,000 rows of about 30 columns.
const DefaultPredictMaxBodyBytes = 32 << 20
