package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOwnerGone: a claim's owner is known gone when its pid no longer
// exists, is a zombie, or is now another process's (its start time is not
// the one the owner's name holds); it is not while its process runs, nor
// when it names another host, nor (an owner named before the start time
// was written in it) only because the name holds no start time.
func TestOwnerGone(t *testing.T) {
	host, _ := os.Hostname()
	me := ownerName()
	if !strings.Contains(me, "~") {
		t.Fatalf("ownerName() = %q: no start time", me)
	}
	if ownerGone(me) {
		t.Errorf("this process (%s) is taken for gone", me)
	}
	start, ok := procStart(os.Getpid())
	if !ok || !strings.HasSuffix(me, "~"+start) {
		t.Fatalf("procStart = %q, %v; the owner's name %q", start, ok, me)
	}
	pid := os.Getpid()
	cases := map[string]bool{
		fmt.Sprintf("%s:%d:abcdefgh~%s", host, pid, start):       false, // this process
		fmt.Sprintf("%s:%d:abcdefgh~1", host, pid):               true,  // its pid, another process's start
		fmt.Sprintf("%s:%d:abcdefgh", host, pid):                 false, // a name without a start time
		fmt.Sprintf("other-%s:%d:abcdefgh~1", host, pid):         false, // another host: it must expire
		fmt.Sprintf("%s:0:abcdefgh", host):                       false,
		"not an owner":                                           false,
		fmt.Sprintf("%s:%d:abcdefgh~%s:extra", host, pid, start): false,
		// A stamp that is no start time (empty, spaced, another
		// version's "~start~more") is as none: a live pid keeps its claim.
		fmt.Sprintf("%s:%d:abcdefgh~", host, pid):               false,
		fmt.Sprintf("%s:%d:abcdefgh~ %s", host, pid, start):     false,
		fmt.Sprintf("%s:%d:abcdefgh~%s~boot", host, pid, start): false,
		fmt.Sprintf("%s:%d:abcdefgh~-1", host, pid):             false,
	}
	for owner, want := range cases {
		if got := ownerGone(owner); got != want {
			t.Errorf("ownerGone(%q) = %v, want %v", owner, got, want)
		}
	}

	// A child that exited: a zombie until waited for, then no process.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childStart, _ := procStart(cmd.Process.Pid)
	child := fmt.Sprintf("%s:%d:abcdefgh~%s", host, cmd.Process.Pid, childStart)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f, ok := procStat(cmd.Process.Pid); ok && f[0] == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child did not become a zombie")
		}
		time.Sleep(time.Millisecond)
	}
	if !ownerGone(child) {
		t.Errorf("a zombie (%s) is not taken for gone", child)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if !ownerGone(child) {
		t.Errorf("an exited process (%s) is not taken for gone", child)
	}
}
