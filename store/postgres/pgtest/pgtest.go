// Package pgtest gives a test a PostgreSQL database of its own on the
// server CAIRN_TEST_POSTGRES names, dropped when the test ends, so that
// tests outside store/postgres (the command's end-to-end tests) need not
// import pgx themselves. A test without CAIRN_TEST_POSTGRES is skipped.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env is the variable that names the test server, a postgres:// URL such
// as postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const Env = "CAIRN_TEST_POSTGRES"

// ServerDSN returns CAIRN_TEST_POSTGRES, or skips the test.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		t.Skip(Env + " is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): PostgreSQL tests skipped")
	}
	return dsn
}

// NewDatabase creates an empty database for the test, dropped (its
// connections ended) when the test ends, and returns its DSN.
func NewDatabase(t testing.TB) string {
	t.Helper()
	dsn := ServerDSN(t)
	ctx := context.Background()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "cairn_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", Env, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a postgres:// URL: %q", Env, dsn)
	}
	u.Path = "/" + name
	return u.String()
}

// Query runs one query on the database of dsn and returns its rows as
// text (NULL as ""), for tests that look at what a command wrote.
func Query(t testing.TB, dsn, sql string, args ...any) [][]string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			if v != nil {
				switch x := v.(type) {
				case []byte:
					row[i] = string(x)
				default:
					row[i] = fmt.Sprint(x)
				}
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}
