package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
)

// cairn gc: remove the artifacts nothing needs any more.

func cmdGC(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("gc", "[--dry-run] [--keep-last N] [--keep-within DURATION] [--grace DURATION]",
		"Remove the artifacts that no run, model version or retention rule still needs, and say how much it freed.\n"+
			"Kept: every input and output of the last --keep-last runs of each workflow, of every run created within\n"+
			"--keep-within, and of every run not finished; every model version's artifact and report; the whole\n"+
			"upstream lineage of every model version not archived (what 'cairn reproduce' needs); and any artifact\n"+
			"stored or reused within --grace (an attempt running now may have just made or reused it), or since the\n"+
			"oldest attempt still running began (it may have stored an artifact it has not reported yet).\n"+
			"The database keeps its record of a removed artifact: lineage still names it.\n"+
			"--dry-run lists what would be removed, and removes nothing.")
	dry := fs.Bool("dry-run", false, "list what would be removed and how much it would free; remove nothing")
	keepLast := fs.Int("keep-last", 10, "keep the artifacts of the last N runs of each workflow")
	keepWithin := fs.String("keep-within", "7d", "keep the artifacts of every run created within this long (30d, 2w, 12h; 0: none by age)")
	graceS := fs.String("grace", "1h", "never remove an artifact stored or reused within this long")
	verbose := fs.Bool("v", false, "name every artifact removed (always with --dry-run)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if *keepLast < 0 {
		return usageError{fmt.Sprintf("--keep-last %d: want 0 or more", *keepLast)}
	}
	within, err := auth.ParseLifetime(*keepWithin)
	if err != nil {
		return usageError{"--keep-within: " + err.Error()}
	}
	grace, err := auth.ParseLifetime(*graceS)
	if err != nil {
		return usageError{"--grace: " + err.Error()}
	}
	if grace < time.Minute {
		return usageError{fmt.Sprintf("--grace %s: at least 1m, so that an artifact an attempt has just stored is never taken", *graceS)}
	}
	// A home without a database has nothing gc could know is unused; a
	// worker's home, which never opens one, used to get a cairn.db here.
	if t, err := a.database(); err == nil && t.dsn == "" {
		if _, err := os.Stat(t.path); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w at %s: nothing to collect (gc keeps what the database's runs and models use; a cairn worker's home has no database, and its HOME/cache is not gc's)", errNoDatabase, t.path)
		}
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	arts, _, err := a.stores()
	if err != nil {
		return err
	}
	now := time.Now()
	notBefore := now.Add(-grace)
	recentWhy := "stored or reused within --grace " + *graceS
	// An attempt still running may have stored artifacts it has not
	// reported yet (a checkpoint, a model it evaluates before it ends),
	// however long ago: nothing stored since the oldest one began goes.
	if oldest, ok, err := st.OldestActiveAttempt(ctx); err != nil {
		return err
	} else if ok && oldest.Add(-time.Minute).Before(notBefore) {
		notBefore = oldest.Add(-time.Minute) // a minute of slack for the clocks of the attempt's worker and of this machine
		recentWhy = fmt.Sprintf("stored since %s, a minute before the oldest attempt still running began", notBefore.Local().Format("2006-01-02 15:04:05"))
	}
	// The blobs first, then what is needed: an artifact recorded between
	// the two is in the second, one stored after the walk is not walked.
	var blobs []artifacts.Blob
	if err := arts.Blobs(func(b artifacts.Blob) error { blobs = append(blobs, b); return nil }); err != nil {
		return err
	}
	needed, err := st.NeededArtifacts(ctx, scheduler.Retention{KeepLast: *keepLast, KeepWithin: within, Now: now})
	if err != nil {
		return err
	}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].Digest < blobs[j].Digest })
	var (
		removed, kept, recent int
		freed, keptBytes      int64
	)
	for _, b := range blobs {
		switch {
		case needed[b.Digest] != "":
			kept++
			keptBytes += b.Size
			continue
		case !b.ModTime.Before(notBefore):
			recent++
			kept++
			keptBytes += b.Size
			continue
		}
		if *dry {
			fmt.Fprintf(a.stdout, "would remove %s  %s\n", b.Digest, humanBytes(b.Size))
			removed++
			freed += b.Size
			continue
		}
		ok, err := arts.RemoveIfOlder(b.Digest, notBefore)
		if err != nil {
			return err
		}
		if ok {
			if *verbose {
				fmt.Fprintf(a.stdout, "removed %s  %s\n", b.Digest, humanBytes(b.Size))
			}
			removed++
			freed += b.Size
		}
	}
	var temps int
	var tempBytes int64
	if !*dry {
		if temps, tempBytes, err = arts.RemoveStaleTemps(notBefore); err != nil {
			return err
		}
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	fmt.Fprintf(a.stderr, "%s %s (%s); kept %s (%s): %d needed, %d only because they are recent (%s)\n",
		verb, plural(removed, "artifact"), humanBytes(freed), plural(kept, "artifact"), humanBytes(keptBytes), kept-recent, recent, recentWhy)
	if temps > 0 {
		fmt.Fprintf(a.stderr, "removed %s an unfinished store left (%s)\n", plural(temps, "temporary file"), humanBytes(tempBytes))
	}
	return nil
}

// humanBytes is n in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
