//go:build cgo

package sqlite

/*
#include <stdint.h>

// SQLite's API as go-sqlite3's amalgamation defines it (its header is not
// on this package's path; config_cgo.go declares its calls the same way).
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_context sqlite3_context;
typedef struct sqlite3_value sqlite3_value;
int sqlite3_auto_extension(void (*)(void));
int sqlite3_create_function_v2(sqlite3 *, const char *, int, int, void *,
	void (*)(sqlite3_context *, int, sqlite3_value **),
	void (*)(sqlite3_context *, int, sqlite3_value **),
	void (*)(sqlite3_context *), void (*)(void *));
void *sqlite3_wal_hook(sqlite3 *, int (*)(void *, sqlite3 *, const char *, int), void *);
sqlite3 *sqlite3_context_db_handle(sqlite3_context *);
long long sqlite3_value_int64(sqlite3_value *);
void sqlite3_result_int(sqlite3_context *, int);
int sqlite3_wal_checkpoint(sqlite3 *, const char *);

// cairnWALGrown is walwatch_export.go's.
extern int cairnWALGrown(uintptr_t, int);

// cairn_wal_hook is the write-ahead log hook of a watched connection,
// called after each of its commits with the log's frames. It replaces
// SQLite's own (sqlite3_wal_autocheckpoint's), which checkpoints right
// there, in the committing connection, whenever the log holds 1,000
// frames or more: from that size on, it asks the store's checkpointer
// (cairnWALGrown), which copies the log in the background, and it
// checkpoints here only when that answers so.
static int cairn_wal_hook(void *watch, sqlite3 *db, const char *schema, int frames) {
	if (frames >= 1000 && cairnWALGrown((uintptr_t)watch, frames)) {
		sqlite3_wal_checkpoint(db, schema);
	}
	return 0;
}

// cairn_wal_watch is the SQL function cairn_wal_watch(token): it gives
// the connection it runs on cairn_wal_hook, for the checkpointer the
// token names.
static void cairn_wal_watch(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	uintptr_t token = (uintptr_t)sqlite3_value_int64(argv[0]);
	sqlite3_wal_hook(sqlite3_context_db_handle(ctx), cairn_wal_hook, (void *)token);
	sqlite3_result_int(ctx, 1);
}

// cairn_wal_watch_init defines cairn_wal_watch on a new connection (an
// automatic extension: SQLite calls it as each connection opens). It is
// SQLITE_DIRECTONLY (0x80000): only a statement may call it, never a
// trigger or a view that a database file could bring. SQLITE_UTF8 is 1.
static int cairn_wal_watch_init(sqlite3 *db, char **err, const void *api) {
	return sqlite3_create_function_v2(db, "cairn_wal_watch", 1, 1 | 0x80000, 0, cairn_wal_watch, 0, 0, 0);
}

// cairn_wal_watch_register makes every connection opened from now on
// define cairn_wal_watch.
static int cairn_wal_watch_register(void) {
	return sqlite3_auto_extension((void (*)(void))cairn_wal_watch_init);
}
*/
import "C"

import "sync"

// walWatchRegistered makes the connections opened after its first call
// define cairn_wal_watch; it reports whether that worked.
var walWatchRegistered = sync.OnceValue(func() bool { return C.cairn_wal_watch_register() == 0 })
