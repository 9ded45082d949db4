package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// readOnlyCommands only look at the state: they open the database
// read-only (no migration, no file created) and work on a home the user
// cannot write to.
var readOnlyCommands = map[string]bool{"runs": true, "show": true, "logs": true, "artifact": true, "audit": true, "lineage": true, "compare": true, "alerts": true, "workers": true, "pools": true}

// errNoDatabase: a read-only command found no database (it creates none).
var errNoDatabase = errors.New("no database")

// privateHome creates the home folder, private to the user (0700 whatever
// the umask), for a command that writes state. An existing home that
// other users can enter is made 0700 when it is the user's and holds a
// Cairn database (an older cairn made it 0755); any other folder is left
// as it is (it may be shared on purpose), with a warning.
func (a *app) privateHome() error {
	home, err := a.homeDir()
	if err != nil {
		return err
	}
	fi, err := os.Stat(home)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(home, 0o700); err != nil {
			return fmt.Errorf("create home %s: %w", home, err)
		}
		// MkdirAll's mode went through the umask: 0700 exactly.
		if err := os.Chmod(home, 0o700); err != nil {
			return fmt.Errorf("create home %s: %w", home, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("home %s: %w", home, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("home %s is not a folder (set --home or CAIRN_HOME to a folder)", home)
	}
	if fi.Mode().Perm()&0o077 == 0 || a.warnedHome {
		return nil
	}
	a.warnedHome = true
	// A home an older cairn made (0755, with 0644 logs and 0444 blobs
	// inside) is closed; any other folder is only warned about.
	if _, err := os.Stat(filepath.Join(home, "cairn.db")); err == nil && ownedByMe(fi) {
		if err := os.Chmod(home, 0o700); err == nil {
			fmt.Fprintf(a.stderr, "cairn: made home %s private (mode 0700, was %#o)\n", home, fi.Mode().Perm())
			return nil
		}
	}
	fmt.Fprintf(a.stderr, "cairn: warning: home %s is open to other users (mode %#o): they may read runs' params, logs and artifacts; 'chmod 700 %s' to close it\n",
		home, fi.Mode().Perm(), home)
	return nil
}

// ownedByMe reports whether this process's user owns the file.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
