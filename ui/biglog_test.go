package ui

import (
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"github.com/cairnml/cairn"
)

// A log is answered as it is read from its file, not read whole into the
// server's memory first: a log holds up to --log-limit (64 MiB, or all of
// it with 0), and each request for it would cost that much.
func TestWholeLogStreamed(t *testing.T) {
	f := newFixture(t)
	const size = 24 << 20
	run := f.run(t, `name: big
tasks:
  - id: loud
    type: shell
    with:
      script: head -c `+strconv.Itoa(size)+` /dev/zero | tr '\0' 'a'
`, nil)
	if run.State != cairn.RunSucceeded {
		t.Fatalf("run %s", run.State)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, err := f.srv.Client().Get(f.srv.URL + "/api/v1/runs/" + run.ID + "/tasks/loud/log")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if err != nil || resp.StatusCode != http.StatusOK || n != size || resp.ContentLength != size ||
		resp.Header.Get("X-Log-Size") != strconv.Itoa(size) || resp.Header.Get("X-Log-Skipped") != "0" {
		t.Fatalf("the log: %d, %d bytes of %d (Content-Length %d, X-Log-Size %s): %v",
			resp.StatusCode, n, size, resp.ContentLength, resp.Header.Get("X-Log-Size"), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("answering a %d MiB log allocated %d MiB: it was read into memory", size>>20, alloc>>20)
	}
}
