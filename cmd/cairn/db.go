package main

import (
	"context"

	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/ui"
)

// database is what the commands need of the home's database, whichever
// store holds it: the scheduler's store, and the reads and writes beyond
// it that the server's pages, the registry, lineage, the cache and the
// tokens make, each part declared by the package that uses it. What only
// one kind of store can do (a SQLite file's snapshot for 'cairn backup',
// its path) is asked of the concrete store where it is needed.
type database interface {
	scheduler.Store
	ui.Reader
	ui.Tokens
	ui.AuditReader
	ui.ModelRegistry
	ui.LineageReader
	ui.ExperimentReader
	serve.Registry
	executor.Cache
	lineage.Store
	cacheStore
	// CreateToken stores a new token (its secret's hash only), with its
	// audit entry by actor ('cairn tokens create').
	CreateToken(ctx context.Context, t auth.Token, hash, actor string) error
	Close() error
}

var _ database = (*sqlite.Store)(nil)
