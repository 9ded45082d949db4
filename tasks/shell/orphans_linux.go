//go:build linux

package shell

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ReapOrphans kills every process left from attempt `attempt` of the task:
// those whose environment carries the attempt's CAIRN_RUN_ID, CAIRN_TASK_ID
// and CAIRN_ATTEMPT, which every process the command started inherits. (A
// process that cleared its environment cannot be found this way.) It kills
// in rounds until none is left, since one may fork while another is killed.
func (*Task) ReapOrphans(ctx context.Context, runID, taskID string, attempt int) error {
	marks := [][]byte{
		[]byte("CAIRN_RUN_ID=" + runID), []byte("CAIRN_TASK_ID=" + taskID), []byte("CAIRN_ATTEMPT=" + strconv.Itoa(attempt)),
	}
	for round := 0; round < 100; round++ {
		pids, err := processesMarked(marks)
		if err != nil {
			return fmt.Errorf("find processes of %s/%s attempt %d: %w", runID, taskID, attempt, err)
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // gone already is fine
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("processes of %s/%s attempt %d keep appearing after 100 rounds of SIGKILL", runID, taskID, attempt)
}

// processesMarked lists the live processes whose environment holds every
// one of marks. Processes this user may not read, and zombies (whose
// environment reads empty), are not listed.
func processesMarked(marks [][]byte) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || len(env) == 0 {
			continue
		}
		vars := bytes.Split(env, []byte{0})
		all := true
		for _, m := range marks {
			found := false
			for _, v := range vars {
				if bytes.Equal(v, m) {
					found = true
					break
				}
			}
			if !found {
				all = false
				break
			}
		}
		if all {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
