package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
)

func cmdArtifact(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("artifact", "RUN TASK [OUTPUT] [-o FILE]",
		"Write the bytes of an artifact output of a task (a data set, a model, a report, a plot) to\n"+
			"standard output, or to FILE with -o. The bytes are verified against their sha256 as they\n"+
			"are copied; a file is written whole or not at all. Without OUTPUT, list the task's\n"+
			"artifact outputs.")
	outFile := fs.String("o", "", "write to this file instead of standard output ('-': standard output)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 && len(pos) != 3 {
		return usageError{"want a run id, a task id and, to fetch one, an output name"}
	}
	st, r, err := a.openRun(ctx, pos[0])
	if err != nil {
		return err
	}
	defer st.Close()
	tr, err := findTask(ctx, st, r.ID, pos[1])
	if err != nil {
		return err
	}
	refs := map[string]cairn.ArtifactRef{}
	for name, v := range tr.Outputs {
		if ref, ok := cairn.AsArtifactRef(v); ok {
			refs[name] = ref
		}
	}
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(pos) == 2 {
		if tr.State != cairn.TaskSucceeded {
			return fmt.Errorf("task %s of run %s is %s: only a succeeded task has outputs", tr.TaskID, r.ID, tr.State)
		}
		for _, n := range names {
			ref := refs[n]
			fmt.Fprintf(a.stdout, "%s\t%s\t%d bytes\t%s\n", n, ref.MediaType, ref.Size, ref.Digest)
		}
		return nil
	}
	name := pos[2]
	ref, ok := refs[name]
	if !ok {
		switch {
		case tr.State != cairn.TaskSucceeded:
			return fmt.Errorf("task %s of run %s is %s: only a succeeded task has outputs", tr.TaskID, r.ID, tr.State)
		case tr.Outputs[name] != nil:
			return fmt.Errorf("output %s of task %s is a plain value, not an artifact: %s (see 'cairn show %s')", name, tr.TaskID, tr.Outputs[name], r.ID)
		case len(names) == 0:
			return fmt.Errorf("task %s has no artifact outputs", tr.TaskID)
		}
		return fmt.Errorf("task %s has no artifact output %q%s; it has %s", tr.TaskID, name, suggest(name, names), strings.Join(names, ", "))
	}
	arts, _, err := a.stores()
	if err != nil {
		return err
	}
	rc, err := arts.Open(ctx, ref)
	if errors.Is(err, cairn.ErrNotFound) {
		// Its record is kept (the lineage names it); the bytes are gone.
		again := fmt.Sprintf("'cairn reproduce %s' runs the run again", r.ID)
		if src := goneSource(ctx, st, arts, r.ID); src != "" {
			again = fmt.Sprintf("'cairn reproduce %s --reread' runs the run again, reading its sources again (the recorded output of %s, which reads outside Cairn, is gone too)", r.ID, src)
		}
		return fmt.Errorf("output %s (%s) of %s/%s is no longer in the artifact store: 'cairn gc' removed it, or the home's artifacts folder lost it (its lineage is still recorded: cairn lineage %s); %s",
			name, ref.Digest, r.ID, tr.TaskID, ref.Digest, again)
	}
	if err != nil {
		return fmt.Errorf("open %s %s: %w", name, ref.Digest, err)
	}
	defer rc.Close()
	if *outFile == "" || *outFile == "-" {
		if _, err := io.Copy(a.stdout, rc); err != nil {
			return fmt.Errorf("copy %s %s: %w", name, ref.Digest, err)
		}
		return nil
	}
	return writeWhole(*outFile, rc)
}

// writeWhole writes r to path through a temporary file renamed into place,
// so that a failed or corrupted copy leaves no partial file behind. A new
// file gets the mode the umask gives (0666 less the umask, like a shell
// redirection); a file that is replaced keeps its mode. A path that is a
// folder is refused; one that exists and is not a regular file (a FIFO,
// /dev/stdout, a terminal) is written to in place.
func writeWhole(path string, r io.Reader) error {
	fi, err := os.Stat(path) // through symlinks: write where they point
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("-o %s is a folder: give a file name, e.g. -o %s", path, filepath.Join(path, "OUTPUT"))
	case err == nil && !fi.Mode().IsRegular():
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		_, err = io.Copy(f, r)
		if err = errors.Join(err, f.Close()); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	case err == nil:
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := createBeside(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if fi != nil {
		err = tmp.Chmod(fi.Mode().Perm())
	}
	if err == nil {
		_, err = io.Copy(tmp, r)
	}
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// createBeside creates a new temporary file in path's folder with mode
// 0666 as the umask leaves it (os.CreateTemp would make it 0600).
func createBeside(path string) (*os.File, error) {
	for {
		name := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+cairn.NewToken()[:12])
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
}

// goneSource names the first task of run id that reads outside Cairn (a
// collect from a file, say) and one of whose artifact outputs is no
// longer stored, or "": 'cairn reproduce' uses such a task's recorded
// outputs, and needs --reread without them.
func goneSource(ctx context.Context, st interface {
	ListTaskRuns(context.Context, string) ([]*cairn.TaskRun, error)
}, arts interface {
	Gone(digest string) (bool, error)
}, id string) string {
	trs, err := st.ListTaskRuns(ctx, id)
	if err != nil {
		return ""
	}
	for _, t := range trs {
		if t.State != cairn.TaskSucceeded || readsOutside(t) == "" {
			continue
		}
		for _, name := range sortedKeys(t.Outputs) {
			if ref, ok := cairn.AsArtifactRef(t.Outputs[name]); ok {
				if gone, err := arts.Gone(ref.Digest); err == nil && gone {
					return t.TaskID
				}
			}
		}
	}
	return ""
}
