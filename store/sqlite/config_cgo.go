//go:build cgo

package sqlite

/*
// sqlite3_config and sqlite3_memory_used are go-sqlite3's SQLite's (the
// amalgamation it links); its header is not on this package's path.
int sqlite3_config(int, ...);
long long sqlite3_memory_used(void);

// cairn_sqlite_memstatus_off turns SQLite's memory statistics off
// (SQLITE_CONFIG_MEMSTATUS, 9, the value sqlite3.h fixes). It fails
// (SQLITE_MISUSE, 21) once SQLite is initialized: it must come before
// the process's first connection.
static int cairn_sqlite_memstatus_off(void) {
	return sqlite3_config(9, 0);
}

static long long cairn_sqlite_memory_used(void) {
	return sqlite3_memory_used();
}
*/
import "C"

import "sync"

// SQLite's memory statistics. With them on (SQLITE_DEFAULT_MEMSTATUS,
// go-sqlite3's build) every sqlite3_malloc and sqlite3_free takes a
// process-wide mutex to count the bytes — about 300 lock and unlock pairs
// a chain's hop, 10,500 instructions of its commit's 225,000 (callgrind).
// Cairn reads none of them (sqlite3_memory_used, sqlite3_status, a soft
// heap limit), and SQLite's documentation recommends them off where
// that is so. It is a setting of the library, made once before SQLite
// initializes — that is, before the process's first connection; a
// process whose first connection was made elsewhere keeps them on.
var memstatusOff = sync.OnceValue(func() bool { return C.cairn_sqlite_memstatus_off() == 0 })

// memoryCounted reports whether SQLite counts the memory it uses (its
// statistics on, and some memory used).
func memoryCounted() bool { return C.cairn_sqlite_memory_used() > 0 }
