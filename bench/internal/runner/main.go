// Command runner runs a program and reports its wall time and peak RSS:
//
//	runner PROGRAM [ARG...]
//
// It writes "NS KIB FAULTS CPUNS\n" to file descriptor 3 (which the
// program does not inherit): the nanoseconds from just before the
// program's start to just after its wait, its ru_maxrss in KiB, its page
// faults (ru_minflt + ru_majflt: each page it touched first) and its CPU
// time (user + system) in nanoseconds. It exits 0 if the program
// succeeded, 1 otherwise, 2 on a bad call; the program's output goes to
// the runner's.
//
// The benchmarks start cairn through it because a child started by Go
// shares its parent's memory until it execs (vfork), and Linux counts
// that memory's peak RSS into the child's ru_maxrss at the exec: started
// from a benchmark process that has grown to hundreds of MB, every cairn
// run would report at least that. The runner is small (about 2 MB), so
// its child's ru_maxrss is the child's own.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: runner PROGRAM [ARG...] 3>REPORT")
		os.Exit(2)
	}
	report := os.NewFile(3, "report")
	if _, err := report.Stat(); err != nil {
		fmt.Fprintf(os.Stderr, "runner: file descriptor 3 (the report): %v\n", err)
		os.Exit(2)
	}
	syscall.CloseOnExec(3)
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runner: %v\n", err)
		os.Exit(1)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if _, err := fmt.Fprintf(report, "%d %d %d %d\n", took.Nanoseconds(), ru.Maxrss, ru.Minflt+ru.Majflt, cpu.Nanoseconds()); err != nil {
		fmt.Fprintf(os.Stderr, "runner: write the report: %v\n", err)
		os.Exit(1)
	}
}
