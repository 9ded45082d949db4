package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit are set at link time by the Makefile:
//
//	go build -ldflags "-X main.version=$(git describe --always --dirty) -X 'main.commit=...'"
//
// Without them the version is the module's (for 'go install ...@vX') or
// "devel", and the commit comes from the build's VCS stamp, which the go
// command writes only when it finds a .git folder (not in a git worktree,
// nor with -buildvcs=false).
var version, commit string

// buildVersion says what this binary is: its version, the commit it was
// built from ("unknown" without a stamp) with " (modified)" when the tree
// had uncommitted changes, and the Go version that built it. The link-time
// values win over the build info.
func buildVersion(ldVersion, ldCommit string, bi *debug.BuildInfo, ok bool) (ver, rev, goVersion string) {
	ver, rev, goVersion = ldVersion, "unknown", runtime.Version()
	if ok {
		goVersion = bi.GoVersion
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && rev != "unknown" {
			rev += " (modified)"
		}
	}
	if ldCommit != "" {
		rev = ldCommit
	}
	if ver == "" {
		ver = "devel"
	}
	return ver, rev, goVersion
}

func writeVersion(w io.Writer) {
	bi, ok := debug.ReadBuildInfo()
	ver, rev, goVersion := buildVersion(version, commit, bi, ok)
	fmt.Fprintf(w, "cairn %s\ncommit %s\ngo     %s\nbuild  %s\n", ver, rev, goVersion, buildKind)
}

func cmdVersion(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("version", "", "Print the version of this binary (set by 'make build' from git describe), the commit\n"+
		"it was built from (\"(modified)\" if the tree had uncommitted changes), the Go version that built it,\n"+
		"and which build it is: full, or lean (what needs the web server or the plugin host, it hands to\n"+
		"cairn-full, installed beside it).")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	writeVersion(a.stdout)
	return nil
}

// implVersion is the version of the built-in task types that attempts
// record and their cache keys hold: this binary's version and the commit
// it was built from, so that a new build of other code does not reuse
// what an older one made. (A build from a tree with uncommitted changes
// shares its commit's: see docs/workflows.md, Caching.)
func implVersion() string {
	bi, ok := debug.ReadBuildInfo()
	ver, rev, _ := buildVersion(version, commit, bi, ok)
	return implVersionOf(ver, rev)
}

// implVersionOf is implVersion of a binary's version and commit.
func implVersionOf(ver, rev string) string {
	rev = strings.TrimSuffix(rev, " (modified)")
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if strings.HasPrefix(rev, ver) {
		// 'make build' of an untagged commit: its version is the
		// commit's short hash already.
		return "cairn " + rev
	}
	return "cairn " + ver + "+" + rev
}
