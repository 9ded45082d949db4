// Package migrations owns Cairn's database schema: numbered SQL files, one
// directory per dialect, embedded in the binary.
//
// File names are NNNN_name.sql; NNNN is the schema version the file brings
// the database to. Files are applied in version order, each in its own
// transaction, by the store package that owns the dialect's driver
// (store/sqlite for sqlite/, store/postgres for postgres/). Every
// version exists in both dialects under the same name (TestDialectsInStep),
// and store/postgres's TestSchemasInStep compares the schemas they make. A file
// once released is never edited: a change to the schema is a new file.
//
// snapshot/sqlite.sql is the schema the SQLite files make, generated from
// them (go test ./store/sqlite -run TestSchemaSnapshot -update, which
// fails while it is stale): a new database is made from it in one step.
// snapshot/sqlite.img, made by the same test, is that new database's file
// itself, which store/sqlite writes as it is.
package migrations
