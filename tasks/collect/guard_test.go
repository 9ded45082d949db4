package collect_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlsource"
	"github.com/cairnml/cairn/tasks/collect"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// TestSQLArgs binds args by position and by name through the real
// querier on a real SQLite file, including a value written to escape its
// quotes: it stays a value, and the file is unchanged.
func TestSQLArgs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shop.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE orders (id INTEGER, amount REAL, country TEXT, vip BOOLEAN)`,
		`INSERT INTO orders VALUES (1, 9.5, 'fr', 1), (2, 20, 'de', 0), (3, 12, 'fr', 0), (4, 30, 'fr', 1)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	sum := func() [32]byte { return sha256.Sum256(readFile(t, path)) }
	before := sum()
	dsn := "sqlite:" + path
	hostile := "fr' OR 1=1; ATTACH '" + filepath.Join(dir, "x.db") + "' AS w; --"
	tasktest.Run(t, collect.New(collect.Options{SQL: sqlsource.New()}),
		tasktest.Case{
			Name: "positional",
			Params: map[string]any{"source": "sql", "dsn": dsn,
				"query": "SELECT id, amount FROM orders WHERE country = ? AND amount >= ? AND vip = ? ORDER BY id",
				"args":  []any{"fr", 10, true}},
			Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := string(data(t, a)); got != "id,amount\n4,30\n" {
					t.Errorf("data:\n%s", got)
				}
				wantLog("with 3 bound args returned 1 row × 2 columns")(t, a)
			},
		},
		tasktest.Case{
			Name: "named",
			Params: map[string]any{"source": "sql", "dsn": dsn,
				"query": "SELECT id FROM orders WHERE country = :country AND amount < :max ORDER BY id",
				"args":  map[string]any{"country": "fr", "max": 12.5}},
			Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := string(data(t, a)); got != "id\n1\n3\n" {
					t.Errorf("data:\n%s", got)
				}
			},
		},
		tasktest.Case{
			Name: "hostile-value-stays-a-value",
			Params: map[string]any{"source": "sql", "dsn": dsn,
				"query": "SELECT count(*) AS n FROM orders WHERE country = ?", "args": []any{hostile}},
			Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := string(data(t, a)); got != "n\n0\n" {
					t.Errorf("data:\n%s", got)
				}
			},
		},
		tasktest.Case{
			Name: "args-do-not-match",
			Params: map[string]any{"source": "sql", "dsn": dsn,
				"query": "SELECT id FROM orders WHERE country = ? AND vip = ?", "args": []any{"fr"}},
			Want:  tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("2 placeholder(s) and args gives 1"),
		},
		tasktest.Case{
			Name:   "second-statement",
			Params: map[string]any{"source": "sql", "dsn": dsn, "query": "SELECT 1 AS a; PRAGMA query_only=0"},
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions(`the second begins "PRAGMA query_only=0"`),
		},
	)
	if sum() != before {
		t.Errorf("%s changed", path)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Errorf("x.db was created")
	}
}

// TestFileNotRegular: a FIFO and /dev/zero fail for good at once, before
// any read (issue 14 item 4), instead of blocking or reading 256 MiB.
func TestFileNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "data.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A writer holds the FIFO open, so that a read of it would block
	// rather than end: a collect that reads it never returns.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	task := collect.New(collect.Options{})
	for _, c := range []struct{ path, want string }{
		{fifo, "a named pipe (FIFO): collect reads regular"},
		{"/dev/zero", "a character device: collect reads regular"},
		{t.TempDir(), "is a directory"},
	} {
		t.Run(c.want, func(t *testing.T) {
			raw := fmt.Sprintf(`{"source": "file://%s"}`, c.path)
			env, _ := tasktest.Env(t)
			done := make(chan error, 1)
			go func() {
				_, err := task.Run(context.Background(), tasktest.Request(t, []byte(raw)), env)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), c.want) {
					t.Errorf("err %v, want a permanent error saying %q", err, c.want)
				}
			case <-time.After(time.Minute):
				w.Close() // let the reader end
				t.Fatalf("collect of %s did not return: it reads what is not a regular file", c.path)
			}
		})
	}
}

// TestFileCancelled: a read in progress ends with the context.
func TestFileCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(path, []byte("a,b\n"+strings.Repeat("1,2\n", 1<<16)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	env, _ := tasktest.Env(t)
	_, err := collect.New(collect.Options{}).Run(ctx, tasktest.Request(t, []byte(fmt.Sprintf(`{"source": "file://%s"}`, path))), env)
	if err == nil || !cairn.IsRetryable(err) {
		t.Errorf("cancelled: err %v, want a retryable cancellation", err)
	}
}

// TestHTTPRedirects: redirects within the URL's origin are followed and
// logged, with the final URL named; one to another origin fails for good
// unless redirects: any allows it (issue 14 item 8); redirects: none
// follows none.
func TestHTTPRedirects(t *testing.T) {
	people := readFile(t, "testdata/people.csv")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		w.Write(people)
	}))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/people.csv", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		w.Write(people)
	})
	mux.HandleFunc("/moved.csv", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/people.csv?sig=s3cret", http.StatusFound)
	})
	mux.HandleFunc("/away.csv", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/elsewhere.csv", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/loop.csv", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop.csv", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	otherFinal := other.URL + "/elsewhere.csv"
	tasktest.Run(t, collect.New(collect.Options{}),
		tasktest.Case{
			Name: "same-origin", Params: map[string]any{"source": srv.URL + "/moved.csv"}, Want: tasktest.Succeeds,
			Check: all(checkPeople, wantLog("redirected: "+srv.URL+"/moved.csv → "+srv.URL+"/people.csv?…",
				"GET "+srv.URL+"/moved.csv (redirected to "+srv.URL+"/people.csv?…): 200 OK"),
				func(t *testing.T, a tasktest.Attempt) {
					if strings.Contains(string(a.Log), "s3cret") {
						t.Errorf("log shows the redirect's query:\n%s", a.Log)
					}
				}),
		},
		tasktest.Case{
			Name: "other-origin-refused", Params: map[string]any{"source": srv.URL + "/away.csv"}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("another origin", otherFinal, "redirects: any"),
		},
		tasktest.Case{
			Name: "other-origin-allowed", Params: map[string]any{"source": srv.URL + "/away.csv", "redirects": "any"}, Want: tasktest.Succeeds,
			Check: all(checkPeople, wantLog("(redirected to "+otherFinal+"): 200 OK")),
		},
		tasktest.Case{
			Name: "loop", Params: map[string]any{"source": srv.URL + "/loop.csv"}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("more than 10 redirects"),
		},
		tasktest.Case{
			Name: "none", Params: map[string]any{"source": srv.URL + "/moved.csv", "redirects": "none"}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("redirects: none"),
		},
	)
}
