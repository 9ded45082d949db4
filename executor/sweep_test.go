package executor_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/executor"
)

// scratchOwnerEnv makes the test binary a process that makes a scratch
// folder in the folder it names, prints its path and waits to be killed.
const scratchOwnerEnv = "CAIRN_TEST_SCRATCH_OWNER"

func scratchOwnerMain(parent string) {
	dir, err := executor.MakeScratch(parent)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "data.bin"), []byte("an attempt's file"), 0o600)
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(dir)
	time.Sleep(time.Hour)
}

// startScratchOwner starts a process that makes a scratch folder in
// parent, and returns it with the folder.
func startScratchOwner(t *testing.T, parent string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), scratchOwnerEnv+"="+parent)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	line = strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(line, parent) {
		t.Fatalf("the scratch owner said %q, %v", line, err)
	}
	return cmd, line
}

// TestSweepScratch: the scratch folder of a process killed with -9 is
// removed by the sweep of a process started later; the folder of a live
// process (another cairn on the same folder), this process's own, one
// whose name carries this process's PID but another start time (a PID
// reused, as a container's PID 1 is) and an older cairn's folder are told
// apart: the live and own ones and the older one are kept, the reused
// PID's removed. Before, scratch folders were named cairn-work-RANDOM and
// a killed process's stayed for ever.
func TestSweepScratch(t *testing.T) {
	parent := t.TempDir()
	killed, dead := startScratchOwner(t, parent)
	_, live := startScratchOwner(t, parent)
	own, err := executor.MakeScratch(parent)
	if err != nil {
		t.Fatal(err)
	}
	older := filepath.Join(parent, "cairn-work-123456789")
	other := filepath.Join(parent, "unrelated")
	for _, d := range []string{older, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// This PID in another incarnation: the own folder's name, another
	// start time.
	tag := strings.TrimPrefix(filepath.Base(own), "cairn-work-")
	tag, _, _ = strings.Cut(tag, "-")
	f := strings.Split(tag, ".")
	start, _ := strconv.ParseUint(f[2], 10, 64)
	reused := filepath.Join(parent, fmt.Sprintf("cairn-work-%s.%s.%d-1", f[0], f[1], start+1))
	if err := os.MkdirAll(filepath.Join(reused, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}

	if n, err := executor.SweepScratch(parent); err != nil || n != 1 {
		t.Fatalf("SweepScratch with every owner alive = %d, %v; want the reused PID's folder alone", n, err)
	}
	killed.Process.Kill() // SIGKILL
	killed.Wait()
	if n, err := executor.SweepScratch(parent); err != nil || n != 1 {
		t.Fatalf("SweepScratch after the kill = %d, %v; want 1", n, err)
	}
	for _, d := range []string{dead, reused} {
		if _, err := os.Lstat(d); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed", d, err)
		}
	}
	for _, d := range []string{live, own, older, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(live, "data.bin")); err != nil {
		t.Errorf("the live process's file: %v", err)
	}
}
