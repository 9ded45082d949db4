package postgres_test

import (
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/lineage"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/ui/core"
)

// The consumers' interfaces a PostgreSQL store fills, as a SQLite one
// does: checked here, in a test, since the store must not import them
// (cmd/cairn checks its own).
var (
	_ core.Reader        = (*postgres.Store)(nil)
	_ core.Tokens        = (*postgres.Store)(nil)
	_ core.AuditReader   = (*postgres.Store)(nil)
	_ core.LineageReader = (*postgres.Store)(nil)
	_ core.ModelRegistry = (*postgres.Store)(nil)
	_ serve.Registry     = (*postgres.Store)(nil)
	_ lineage.Store      = (*postgres.Store)(nil)
	_ executor.Cache     = (*postgres.Store)(nil)
)
