package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNoProfileInitsEarly: the binary's package initialization (GODEBUG
// inittrace) runs internal/noprofile, which turns off the sampling of
// allocations, before the heavy initializers — gin's validator, gRPC,
// protobuf's descriptors — so that none of their allocations is sampled
// (with sampling on, `cairn version` took ~280 page faults and 12 ms
// more). A dependency added to noprofile, or a rename that sorts it after
// them, fails here.
func TestNoProfileInitsEarly(t *testing.T) {
	cmd := exec.Command(cairnBin, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cairn version: %v\n%s", err, out)
	}
	at := map[string]int{}
	for i, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			if _, seen := at[f[1]]; !seen {
				at[f[1]] = i
			}
		}
	}
	np, ok := at["github.com/cairnml/cairn/internal/noprofile"]
	if !ok {
		t.Fatalf("internal/noprofile not initialized (not linked?):\n%s", out)
	}
	heavy := 0
	for _, pkg := range []string{"github.com/go-playground/validator/v10", "google.golang.org/grpc",
		"google.golang.org/protobuf/reflect/protodesc", "gopkg.in/yaml%2ev3", "github.com/gin-gonic/gin"} {
		i, ok := at[pkg]
		if !ok {
			continue // no longer linked, or its init does no work
		}
		heavy++
		if i < np {
			t.Errorf("%s initialized before internal/noprofile", pkg)
		}
	}
	if heavy == 0 {
		t.Errorf("none of the heavy initializers seen in:\n%s", out)
	}
}
