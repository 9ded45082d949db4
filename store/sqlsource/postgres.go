package sqlsource

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresConfig parses dsn and forces what makes a query read-only and
// one statement, whatever the DSN says: the extended protocol (one
// statement per Parse; the simple protocol, which a DSN can ask for with
// default_query_exec_mode=simple_protocol, runs "COMMIT; DELETE ..." as
// two) and default_transaction_read_only on for the session (a startup
// parameter, which wins over the same setting in the DSN's options=-c).
// The query runs in a READ ONLY transaction besides; see run.
func postgresConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	cfg.StatementCacheCapacity = 0
	cfg.DescriptionCacheCapacity = 0
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	for k := range cfg.RuntimeParams {
		if strings.EqualFold(k, "default_transaction_read_only") || strings.EqualFold(k, "transaction_read_only") {
			delete(cfg.RuntimeParams, k)
		}
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	return cfg, nil
}

// postgresNamed rewrites @name placeholders into $N ones with their values
// in order (pgx's StrictNamedArgs: a placeholder without a value or a value
// without a placeholder is an error).
func postgresNamed(ctx context.Context, query string, named map[string]any) (string, []any, error) {
	q, args, err := pgx.StrictNamedArgs(named).RewriteQuery(ctx, nil, query, nil)
	if err != nil {
		return "", nil, cairn.Permanentf("named args: %w (PostgreSQL placeholders are @name)", err)
	}
	return q, args, nil
}

// checkPostgres parses and describes query on the raw connection, without
// running it: more than one statement, a statement that returns no rows
// (COPY, a DO block, SET, COMMIT, ...) and placeholders that do not match
// the args are refused before anything runs.
func checkPostgres(ctx context.Context, dc any, query string, args int) error {
	sc, ok := dc.(*stdlib.Conn)
	if !ok {
		return fmt.Errorf("postgres: unexpected driver connection %T", dc)
	}
	sd, err := sc.Conn().Prepare(ctx, "", query)
	if err != nil {
		return err
	}
	if len(sd.Fields) == 0 {
		return cairn.Permanentf("the query returns no rows (is it a SELECT?): sql sources are read-only and run exactly one query that returns rows")
	}
	if n := len(sd.ParamOIDs); n != args {
		return placeholderMismatch(n, args)
	}
	return nil
}

// multipleStatements reports whether err is PostgreSQL refusing a Parse
// of several statements.
func multipleStatements(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42601" && strings.Contains(pe.Message, "multiple commands")
}
