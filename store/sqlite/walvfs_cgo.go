//go:build cgo

package sqlite

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

// SQLite's VFS objects as sqlite3.h defines them (go-sqlite3's header is
// not on this package's path; the layouts are SQLite's stable ABI, the
// versions below those of SQLite 3.54).
typedef long long sqlite3_int64;
typedef struct sqlite3_file sqlite3_file;
typedef struct sqlite3_io_methods sqlite3_io_methods;
typedef struct sqlite3_vfs sqlite3_vfs;
typedef void (*sqlite3_syscall_ptr)(void);
struct sqlite3_file {
	const sqlite3_io_methods *pMethods;
};
struct sqlite3_io_methods {
	int iVersion;
	int (*xClose)(sqlite3_file *);
	int (*xRead)(sqlite3_file *, void *, int, sqlite3_int64);
	int (*xWrite)(sqlite3_file *, const void *, int, sqlite3_int64);
	int (*xTruncate)(sqlite3_file *, sqlite3_int64);
	int (*xSync)(sqlite3_file *, int);
	int (*xFileSize)(sqlite3_file *, sqlite3_int64 *);
	int (*xLock)(sqlite3_file *, int);
	int (*xUnlock)(sqlite3_file *, int);
	int (*xCheckReservedLock)(sqlite3_file *, int *);
	int (*xFileControl)(sqlite3_file *, int, void *);
	int (*xSectorSize)(sqlite3_file *);
	int (*xDeviceCharacteristics)(sqlite3_file *);
	int (*xShmMap)(sqlite3_file *, int, int, int, void volatile **);
	int (*xShmLock)(sqlite3_file *, int, int, int);
	void (*xShmBarrier)(sqlite3_file *);
	int (*xShmUnmap)(sqlite3_file *, int);
	int (*xFetch)(sqlite3_file *, sqlite3_int64, int, void **);
	int (*xUnfetch)(sqlite3_file *, sqlite3_int64, void *);
};
struct sqlite3_vfs {
	int iVersion;
	int szOsFile;
	int mxPathname;
	sqlite3_vfs *pNext;
	const char *zName;
	void *pAppData;
	int (*xOpen)(sqlite3_vfs *, const char *, sqlite3_file *, int, int *);
	int (*xDelete)(sqlite3_vfs *, const char *, int);
	int (*xAccess)(sqlite3_vfs *, const char *, int, int *);
	int (*xFullPathname)(sqlite3_vfs *, const char *, int, char *);
	void *(*xDlOpen)(sqlite3_vfs *, const char *);
	void (*xDlError)(sqlite3_vfs *, int, char *);
	void (*(*xDlSym)(sqlite3_vfs *, void *, const char *))(void);
	void (*xDlClose)(sqlite3_vfs *, void *);
	int (*xRandomness)(sqlite3_vfs *, int, char *);
	int (*xSleep)(sqlite3_vfs *, int);
	int (*xCurrentTime)(sqlite3_vfs *, double *);
	int (*xGetLastError)(sqlite3_vfs *, int, char *);
	int (*xCurrentTimeInt64)(sqlite3_vfs *, sqlite3_int64 *);
	int (*xSetSystemCall)(sqlite3_vfs *, const char *, sqlite3_syscall_ptr);
	sqlite3_syscall_ptr (*xGetSystemCall)(sqlite3_vfs *, const char *);
	const char *(*xNextSystemCall)(sqlite3_vfs *, const char *);
};
sqlite3_vfs *sqlite3_vfs_find(const char *);
int sqlite3_vfs_register(sqlite3_vfs *, int);
sqlite3_file *sqlite3_database_file_object(const char *);

#define CAIRN_OK 0
#define CAIRN_NOMEM 7
#define CAIRN_OPEN_MAIN_DB 0x00000100
#define CAIRN_OPEN_WAL 0x00080000

// The "cairn" VFS is SQLite's own ("unix") with one change: the frames a
// transaction appends to a write-ahead log reach the file in one write
// instead of two a frame. SQLite writes each frame's 24-byte header and its
// page with separate calls (walWriteOneFrame), 8.5 pwrite64 calls a hop of
// a chain; the log file here gathers the bytes a write transaction appends
// and writes them when the transaction's commit frame is complete — a
// frame's header holds, in its bytes 4–7, the database's size after the
// commit for the commit frame and 0 for the others, and the commit frame's
// page is a commit's last append — and before anything could look at them:
// a read, sync, size or truncation of the log, a write elsewhere in it (SQLite
// overwriting a frame of the same transaction, or restarting the log), and
// any write below the end of the last commit (SQLite rewriting the
// checksums of a transaction's frames after it overwrote one of them),
// which goes to the file at once.
//
// So a commit returns, as with SQLite's own VFS, only after its frames were
// written: a process killed at any moment leaves the committed
// transactions in the file and at most an unfinished one after them, which
// recovery ignores by its checksums. Failures keep SQLite's view true:
//
//  - a write that fails keeps the gathered bytes, and its error goes to
//    the call that caused it (a read fails, a commit fails); the bytes are
//    written by the next call that needs them, or the commit fails. Bytes
//    that SQLite was told are written are never dropped while its write
//    transaction lasts (a statement's error does not end it, and SQLite
//    may commit after it);
//  - what is still gathered when the transaction ends — it unlocks the
//    shared index's write lock — belonged to a transaction that did not
//    commit, past the log's end: it is dropped, never written, since the
//    next writer may restart the log over those offsets;
//  - a log gathers only while its connection holds that write lock as a
//    lock of the shared index: a connection in exclusive locking mode
//    takes no lock there (and one that was so before its log opened has no
//    shared index), never tells its transaction's end, and writes as SQLite
//    does; and only where SQLite may overwrite the database file
//    power-safe (its default): otherwise it pads a commit to the end of a
//    sector and splits a write around a sync there (found by trial19b);
//  - SQLite publishes a commit to other connections in the shared index,
//    around a memory barrier of the database file (walIndexWriteHdr): the
//    barrier writes anything still gathered first (nothing, as SQLite
//    writes frames today; it guards a version that would write them
//    differently), and since a barrier cannot fail, a process that cannot
//    write them there stops (abort) rather than publish a frame that is not
//    in the file.
//
// The database file, journals and temporary files are SQLite's unchanged.
typedef struct cairn_file cairn_file;
struct cairn_file {
	sqlite3_file base;
	sqlite3_file *real;   // SQLite's own file, right after this struct
	cairn_file *wal;      // a database file: its open log, or 0
	cairn_file *db;       // a log: its database's file, or 0
	int writing;          // a database file: it holds the shared index's write lock
	unsigned char *buf;   // a log: the gathered bytes
	int len, cap;
	sqlite3_int64 off;    // the file offset of buf[0]
	sqlite3_int64 end;    // a log: the end of the last commit frame written
	int commit;           // the last write was a commit frame's header
};

static sqlite3_vfs *cairn_real;
static const sqlite3_io_methods cairn_db_methods;

// cairn_gather_max bounds what a log gathers before it writes: a larger
// transaction (a run of 100,000 tasks created in one) writes in pieces
// of about this size. SQLite's unix VFS takes at most 128 KiB less a byte
// in one write (seekAndWriteFd keeps the size's low 17 bits).
enum { cairn_gather_max = (1 << 17) - 1 };

// The writes SQLite asked of the logs, and those the logs made of their
// files (the process's, for the tests).
static uint64_t cairn_vfs_asked, cairn_vfs_written;

// cairn_vfs_belt: the barrier writes what is still gathered. Tests turn
// it off to show that the commit frame alone writes a transaction's
// frames in time.
static int cairn_vfs_belt = 1;

static int cairn_write(cairn_file *f, const void *data, int n, sqlite3_int64 off) {
	__atomic_fetch_add(&cairn_vfs_written, 1, __ATOMIC_RELAXED);
	return f->real->pMethods->xWrite(f->real, data, n, off);
}

// cairn_flush writes what f gathered; on an error the bytes stay.
static int cairn_flush(cairn_file *f) {
	if (f == 0 || f->len == 0) {
		return CAIRN_OK;
	}
	int rc = cairn_write(f, f->buf, f->len, f->off);
	if (rc == CAIRN_OK) f->len = 0;
	return rc;
}

// SQLITE_IOCAP_POWERSAFE_OVERWRITE (sqlite3.h).
enum { cairn_iocap_psow = 0x1000 };

// cairn_gathers says whether f's appends are gathered now: under the
// shared index's write lock, on a database file SQLite may overwrite
// power-safe — without that (the psow=0 parameter, or its file control)
// SQLite pads a commit to a sector's end and splits a write around a sync
// there, a rest this file would not know for a commit's.
static int cairn_gathers(cairn_file *f) {
	return f->db != 0 && f->db->writing &&
		(f->db->real->pMethods->xDeviceCharacteristics(f->db->real) & cairn_iocap_psow) != 0;
}

static int cairn_wal_write(sqlite3_file *p, const void *data, int n, sqlite3_int64 off) {
	cairn_file *f = (cairn_file *)p;
	int rc;
	__atomic_fetch_add(&cairn_vfs_asked, 1, __ATOMIC_RELAXED);
	if (off == 0) {
		f->end = 0; // the log restarts: its header first
	}
	int header = n == 24;
	const unsigned char *h = data;
	int completes = f->commit && !header; // the page of a commit frame
	f->commit = header && (h[4] | h[5] | h[6] | h[7]) != 0;
	if (!cairn_gathers(f) || off < f->end || n > cairn_gather_max) {
		// At once: not in a write transaction of the shared index,
		// a rewrite of what a commit wrote, or too large to gather.
		if ((rc = cairn_flush(f)) != CAIRN_OK) return rc;
		if ((rc = cairn_write(f, data, n, off)) != CAIRN_OK) return rc;
		if (completes) f->end = off + n;
		return CAIRN_OK;
	}
	if (f->len > 0 && (off != f->off + f->len || f->len + n > cairn_gather_max)) {
		if ((rc = cairn_flush(f)) != CAIRN_OK) return rc;
	}
	if (f->len + n > f->cap) {
		int cap = f->cap ? f->cap : 64 << 10;
		while (cap < f->len + n) cap *= 2;
		unsigned char *b = realloc(f->buf, cap);
		if (b == 0) {
			if ((rc = cairn_flush(f)) != CAIRN_OK) return rc;
			if ((rc = cairn_write(f, data, n, off)) != CAIRN_OK) return rc;
			if (completes) f->end = off + n;
			return CAIRN_OK;
		}
		f->buf = b;
		f->cap = cap;
	}
	if (f->len == 0) f->off = off;
	memcpy(f->buf + f->len, data, n);
	f->len += n;
	if (completes) {
		if ((rc = cairn_flush(f)) != CAIRN_OK) {
			// This write failed: its bytes are not SQLite's to
			// find written later (the commit frame of a commit
			// that failed, whose header alone no recovery takes).
			f->len -= n;
			return rc;
		}
		f->end = off + n;
	}
	return CAIRN_OK;
}

// cairn_drop forgets what f gathered (a transaction that did not commit).
static void cairn_drop(cairn_file *f) {
	if (f != 0) {
		f->len = 0;
		f->commit = 0;
	}
}

static int cairn_wal_close(sqlite3_file *p) {
	cairn_file *f = (cairn_file *)p;
	cairn_drop(f); // no write transaction holds a closing log
	int rc = f->real->pMethods->xClose(f->real);
	if (f->db != 0 && f->db->wal == f) f->db->wal = 0;
	f->db = 0;
	free(f->buf);
	f->buf = 0;
	f->cap = 0;
	return rc;
}

static int cairn_wal_read(sqlite3_file *p, void *data, int n, sqlite3_int64 off) {
	cairn_file *f = (cairn_file *)p;
	int rc = cairn_flush(f);
	if (rc != CAIRN_OK) return rc;
	return f->real->pMethods->xRead(f->real, data, n, off);
}

static int cairn_wal_truncate(sqlite3_file *p, sqlite3_int64 size) {
	cairn_file *f = (cairn_file *)p;
	int rc = cairn_flush(f);
	if (rc != CAIRN_OK) return rc;
	return f->real->pMethods->xTruncate(f->real, size);
}

static int cairn_wal_sync(sqlite3_file *p, int flags) {
	cairn_file *f = (cairn_file *)p;
	int rc = cairn_flush(f);
	if (rc != CAIRN_OK) return rc;
	return f->real->pMethods->xSync(f->real, flags);
}

static int cairn_wal_size(sqlite3_file *p, sqlite3_int64 *size) {
	cairn_file *f = (cairn_file *)p;
	int rc = cairn_flush(f);
	if (rc != CAIRN_OK) return rc;
	return f->real->pMethods->xFileSize(f->real, size);
}

static int cairn_wal_control(sqlite3_file *p, int op, void *arg) {
	cairn_file *f = (cairn_file *)p;
	int rc = cairn_flush(f);
	if (rc != CAIRN_OK) return rc;
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int cairn_wal_fetch(sqlite3_file *p, sqlite3_int64 off, int n, void **pp) {
	cairn_file *f = (cairn_file *)p;
	int rc = cairn_flush(f);
	if (rc != CAIRN_OK) return rc;
	return f->real->pMethods->xFetch(f->real, off, n, pp);
}

// The methods both kinds of file pass to SQLite's own as they are.
static int cairn_lock(sqlite3_file *p, int l) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xLock(f->real, l);
}
static int cairn_unlock(sqlite3_file *p, int l) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xUnlock(f->real, l);
}
static int cairn_reserved(sqlite3_file *p, int *out) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xCheckReservedLock(f->real, out);
}
static int cairn_sector(sqlite3_file *p) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xSectorSize(f->real);
}
static int cairn_device(sqlite3_file *p) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xDeviceCharacteristics(f->real);
}
static int cairn_shm_map(sqlite3_file *p, int pg, int size, int extend, void volatile **pp) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xShmMap(f->real, pg, size, extend, pp);
}

// SQLite's lock flags of the shared index (sqlite3.h) and its write lock,
// the first of its locks (WAL_WRITE_LOCK).
enum { cairn_shm_unlock = 1, cairn_shm_lock_ = 2, cairn_shm_exclusive = 8, cairn_wal_write_lock = 0 };

static int cairn_shm_lock(sqlite3_file *p, int offset, int n, int flags) {
	cairn_file *f = (cairn_file *)p;
	int writeLock = p->pMethods == &cairn_db_methods && offset == cairn_wal_write_lock && n >= 1 &&
		(flags & cairn_shm_exclusive) != 0;
	if (writeLock && (flags & cairn_shm_unlock) != 0) {
		// The write transaction ends: what it gathered and did not
		// write did not commit.
		f->writing = 0;
		cairn_drop(f->wal);
	}
	int rc = f->real->pMethods->xShmLock(f->real, offset, n, flags);
	if (writeLock && (flags & cairn_shm_lock_) != 0 && rc == CAIRN_OK) {
		f->writing = 1;
	}
	return rc;
}
static void cairn_shm_barrier(sqlite3_file *p) {
	cairn_file *f = (cairn_file *)p;
	if (__atomic_load_n(&cairn_vfs_belt, __ATOMIC_RELAXED) && f->wal != 0 && f->wal->len > 0) {
		if (cairn_flush(f->wal) != CAIRN_OK) {
			fprintf(stderr, "cairn: SQLite is publishing a commit whose log frames could not be written; stopping\n");
			abort();
		}
	}
	f->real->pMethods->xShmBarrier(f->real);
}
static int cairn_shm_unmap(sqlite3_file *p, int del) {
	cairn_file *f = (cairn_file *)p;
	f->writing = 0;
	cairn_drop(f->wal);
	return f->real->pMethods->xShmUnmap(f->real, del);
}
static int cairn_unfetch(sqlite3_file *p, sqlite3_int64 off, void *page) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xUnfetch(f->real, off, page);
}

// The database file's methods: SQLite's own.
static int cairn_db_close(sqlite3_file *p) {
	cairn_file *f = (cairn_file *)p;
	if (f->wal != 0) f->wal->db = 0;
	f->wal = 0;
	return f->real->pMethods->xClose(f->real);
}
static int cairn_db_read(sqlite3_file *p, void *data, int n, sqlite3_int64 off) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xRead(f->real, data, n, off);
}
static int cairn_db_write(sqlite3_file *p, const void *data, int n, sqlite3_int64 off) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xWrite(f->real, data, n, off);
}
static int cairn_db_truncate(sqlite3_file *p, sqlite3_int64 size) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xTruncate(f->real, size);
}
static int cairn_db_sync(sqlite3_file *p, int flags) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xSync(f->real, flags);
}
static int cairn_db_size(sqlite3_file *p, sqlite3_int64 *size) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xFileSize(f->real, size);
}
static int cairn_db_control(sqlite3_file *p, int op, void *arg) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xFileControl(f->real, op, arg);
}
static int cairn_db_fetch(sqlite3_file *p, sqlite3_int64 off, int n, void **pp) {
	cairn_file *f = (cairn_file *)p;
	return f->real->pMethods->xFetch(f->real, off, n, pp);
}

static const sqlite3_io_methods cairn_db_methods = {
	3, cairn_db_close, cairn_db_read, cairn_db_write, cairn_db_truncate, cairn_db_sync,
	cairn_db_size, cairn_lock, cairn_unlock, cairn_reserved, cairn_db_control, cairn_sector,
	cairn_device, cairn_shm_map, cairn_shm_lock, cairn_shm_barrier, cairn_shm_unmap,
	cairn_db_fetch, cairn_unfetch,
};

static const sqlite3_io_methods cairn_wal_methods = {
	3, cairn_wal_close, cairn_wal_read, cairn_wal_write, cairn_wal_truncate, cairn_wal_sync,
	cairn_wal_size, cairn_lock, cairn_unlock, cairn_reserved, cairn_wal_control, cairn_sector,
	cairn_device, cairn_shm_map, cairn_shm_lock, cairn_shm_barrier, cairn_shm_unmap,
	cairn_wal_fetch, cairn_unfetch,
};

static int cairn_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out) {
	int wal = (flags & CAIRN_OPEN_WAL) != 0;
	if (!wal && !(flags & CAIRN_OPEN_MAIN_DB)) {
		// Journals and temporary files: SQLite's own file in the space
		// SQLite allotted (szOsFile covers it).
		return cairn_real->xOpen(cairn_real, name, p, flags, out);
	}
	cairn_file *f = (cairn_file *)p;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	int rc = cairn_real->xOpen(cairn_real, name, f->real, flags, out);
	if (rc != CAIRN_OK || f->real->pMethods == 0) {
		if (f->real->pMethods != 0) f->real->pMethods->xClose(f->real);
		f->base.pMethods = 0;
		return rc != CAIRN_OK ? rc : 14; // SQLITE_CANTOPEN
	}
	if (f->real->pMethods->iVersion < 3) {
		f->real->pMethods->xClose(f->real);
		f->base.pMethods = 0;
		return 14;
	}
	if (wal) {
		f->base.pMethods = &cairn_wal_methods;
		sqlite3_file *db = sqlite3_database_file_object(name);
		if (db != 0 && db->pMethods == &cairn_db_methods) {
			cairn_file *d = (cairn_file *)db;
			if (d->wal == 0) {
				d->wal = f;
				f->db = d;
			}
		}
	} else {
		f->base.pMethods = &cairn_db_methods;
	}
	return CAIRN_OK;
}

static int cairn_delete(sqlite3_vfs *v, const char *name, int syncDir) { return cairn_real->xDelete(cairn_real, name, syncDir); }
static int cairn_access(sqlite3_vfs *v, const char *name, int flags, int *out) { return cairn_real->xAccess(cairn_real, name, flags, out); }
static int cairn_fullpath(sqlite3_vfs *v, const char *name, int n, char *out) { return cairn_real->xFullPathname(cairn_real, name, n, out); }
static void *cairn_dlopen(sqlite3_vfs *v, const char *name) { return cairn_real->xDlOpen(cairn_real, name); }
static void cairn_dlerror(sqlite3_vfs *v, int n, char *out) { cairn_real->xDlError(cairn_real, n, out); }
static void (*cairn_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void) { return cairn_real->xDlSym(cairn_real, h, sym); }
static void cairn_dlclose(sqlite3_vfs *v, void *h) { cairn_real->xDlClose(cairn_real, h); }
static int cairn_random(sqlite3_vfs *v, int n, char *out) { return cairn_real->xRandomness(cairn_real, n, out); }
static int cairn_sleep(sqlite3_vfs *v, int us) { return cairn_real->xSleep(cairn_real, us); }
static int cairn_time(sqlite3_vfs *v, double *t) { return cairn_real->xCurrentTime(cairn_real, t); }
static int cairn_lasterror(sqlite3_vfs *v, int n, char *out) { return cairn_real->xGetLastError(cairn_real, n, out); }
static int cairn_time64(sqlite3_vfs *v, sqlite3_int64 *t) { return cairn_real->xCurrentTimeInt64(cairn_real, t); }
static int cairn_setsys(sqlite3_vfs *v, const char *name, sqlite3_syscall_ptr fn) { return cairn_real->xSetSystemCall(cairn_real, name, fn); }
static sqlite3_syscall_ptr cairn_getsys(sqlite3_vfs *v, const char *name) { return cairn_real->xGetSystemCall(cairn_real, name); }
static const char *cairn_nextsys(sqlite3_vfs *v, const char *name) { return cairn_real->xNextSystemCall(cairn_real, name); }

static sqlite3_vfs cairn_vfs = {
	3, 0, 0, 0, "cairn", 0,
	cairn_open, cairn_delete, cairn_access, cairn_fullpath, cairn_dlopen, cairn_dlerror,
	cairn_dlsym, cairn_dlclose, cairn_random, cairn_sleep, cairn_time, cairn_lasterror,
	cairn_time64, cairn_setsys, cairn_getsys, cairn_nextsys,
};

static void cairn_vfs_counts(uint64_t *asked, uint64_t *written) {
	*asked = __atomic_load_n(&cairn_vfs_asked, __ATOMIC_RELAXED);
	*written = __atomic_load_n(&cairn_vfs_written, __ATOMIC_RELAXED);
}

static void cairn_vfs_set_belt(int on) {
	__atomic_store_n(&cairn_vfs_belt, on, __ATOMIC_RELAXED);
}

// cairn_vfs_register registers the "cairn" VFS over SQLite's "unix"
// (not as the default); 0 when it is there.
static int cairn_vfs_register(void) {
	cairn_real = sqlite3_vfs_find("unix");
	if (cairn_real == 0 || cairn_real->iVersion < 3) return 1;
	cairn_vfs.szOsFile = (int)sizeof(cairn_file) + cairn_real->szOsFile;
	cairn_vfs.mxPathname = cairn_real->mxPathname;
	return sqlite3_vfs_register(&cairn_vfs, 0);
}
*/
import "C"

import "sync"

// walVFS is the name of the VFS whose logs write a transaction's frames
// in one write (walvfs_cgo.go), or "" where it could not be registered:
// the store's connections then use SQLite's default.
var walVFS = sync.OnceValue(func() string {
	if C.cairn_vfs_register() != 0 {
		return ""
	}
	return "cairn"
})

// walVFSCounts returns how many writes SQLite asked of the store's logs in
// this process and how many the logs made of their files.
func walVFSCounts() (asked, written uint64) {
	var a, w C.uint64_t
	C.cairn_vfs_counts(&a, &w)
	return uint64(a), uint64(w)
}

// setWALVFSBelt turns the writes at the shared index's barrier and locks
// on or off (tests only: off, the commit frame alone must write a
// transaction's frames before its commit returns).
func setWALVFSBelt(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.cairn_vfs_set_belt(v)
}

// VFS is the name of the SQLite VFS the store's connections open on
// ("cairn": SQLite's own, with a transaction's log frames written in one
// write), registered by this call if it was not yet; "" where it cannot
// be, and the store then opens on SQLite's default.
func VFS() string { return walVFS() }
