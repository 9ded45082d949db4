package collect_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cairnml/cairn/tasks/collect"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// A body that stops coming within the timeout: the error names the GET
// once ("GET URL: GET URL: read: ..." said it twice), says it timed out,
// and is retryable.
func TestHTTPBodyTimeoutSaidOnce(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		io.WriteString(w, "a,b\n1,2\n")
		w.(http.Flusher).Flush()
		select { // the rest of the body never comes
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	tasktest.Run(t, collect.New(collect.Options{}), tasktest.Case{
		Name: "body-stalls", Params: map[string]any{"source": srv.URL + "/trickle.csv", "timeout": "200ms"}, Want: tasktest.FailsRetryable,
		Check: func(t *testing.T, a tasktest.Attempt) {
			msg := a.Err.Error()
			if n := strings.Count(msg, "GET "); n != 1 {
				t.Errorf("error says GET %d times, want once: %s", n, msg)
			}
			if !strings.Contains(msg, "/trickle.csv") || !strings.Contains(msg, "within the timeout of 200ms") {
				t.Errorf("error %q does not name the URL and the timeout", msg)
			}
		},
	})
}
