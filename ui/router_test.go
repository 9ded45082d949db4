package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The router's rules, on a router of its own: literal segments beat
// parameters, a parameter is one segment as sent (an escaped slash stays
// in it) and is unescaped, a trailing slash is another path, a path of
// another method is a 405 with Allow, any other a 404, and the middleware
// runs for all of them.
func TestRouter(t *testing.T) {
	r := &router{}
	r.Use(func(c *reqCtx) { c.Header("X-Mw", "1") })
	say := func(s string) handlerFunc {
		return func(c *reqCtx) { c.String(http.StatusOK, "%s id=%s task=%s", s, c.Param("id"), c.Param("task")) }
	}
	api := r.Group("/api")
	api.Handle(http.MethodGet, "/runs/:id", say("run"))
	api.Handle(http.MethodGet, "/runs/latest", say("latest"))
	api.Handle(http.MethodGet, "/runs/:id/tasks/:task", say("task"))
	api.Handle(http.MethodPost, "/runs/:id/cancel", say("cancel"))
	api.Handle(http.MethodDelete, "/runs/:id", say("delete"))
	r.GET("/", func(c *reqCtx) { c.Redirect(http.StatusFound, "/runs") })
	r.Group("").Handle(http.MethodGet, "/late", func(c *reqCtx) {
		c.Writer.WriteHeader(http.StatusTeapot)
		c.Header("X-After", "set after the status, sent with it")
	})
	r.Group("").Handle(http.MethodGet, "/stop", func(c *reqCtx) { c.Abort() }, say("never"))
	r.NoRoute(func(c *reqCtx) { c.String(http.StatusNotFound, "no route %s", c.Request.URL.Path) })
	r.NoMethod(func(c *reqCtx) { c.String(http.StatusMethodNotAllowed, "no method %s", c.Request.Method) })

	for _, tc := range []struct {
		method, path string
		status       int
		body         string
		hdr          map[string]string
	}{
		{"GET", "/api/runs/r1", 200, "run id=r1 task=", nil},
		{"GET", "/api/runs/latest", 200, "latest id= task=", nil},
		{"GET", "/api/runs/r1/tasks/a%2Fb", 200, "task id=r1 task=a/b", nil},
		{"GET", "/api/runs/r%201/tasks/x", 200, "task id=r 1 task=x", nil},
		{"POST", "/api/runs/r1/cancel", 200, "cancel id=r1 task=", nil},
		{"GET", "/api/runs/r1/", 404, "no route /api/runs/r1/", map[string]string{"X-Mw": "1"}},
		{"GET", "/api/runs//tasks/x", 404, "no route", nil},
		{"GET", "/nowhere", 404, "no route /nowhere", nil},
		{"PUT", "/api/runs/r1", 405, "no method PUT", map[string]string{"Allow": "GET, DELETE", "X-Mw": "1"}},
		{"GET", "/api/runs/r1/cancel", 405, "no method GET", map[string]string{"Allow": "POST"}},
		{"GET", "/", 302, "", map[string]string{"Location": "/runs"}},
		{"GET", "/late", 418, "", map[string]string{"X-After": "set after the status, sent with it"}},
		{"GET", "/stop", 200, "", nil},
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, w.Code, w.Body.String(), tc.status, tc.body)
		}
		for k, v := range tc.hdr {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s %s: header %s = %q, want %q", tc.method, tc.path, k, got, v)
			}
		}
	}

	// Without a NoRoute handler that answers, a line of text says the status.
	bare := &router{}
	bare.GET("/x", say("x"))
	w := httptest.NewRecorder()
	bare.ServeHTTP(w, httptest.NewRequest("GET", "/y", nil))
	if w.Code != 404 || w.Body.String() != "404 page not found" {
		t.Errorf("bare 404: %d %q", w.Code, w.Body.String())
	}
}

// A posted form is read once, URL-encoded or multipart.
func TestRouterPostForm(t *testing.T) {
	r := &router{}
	r.Group("").Handle(http.MethodPost, "/f", func(c *reqCtx) {
		v, ok := c.GetPostForm("a")
		_, missing := c.GetPostForm("b")
		c.String(http.StatusOK, "%s %v %v %s", v, ok, missing, c.Query("q"))
	})
	req := httptest.NewRequest("POST", "/f?q=1", strings.NewReader("a=x%20y"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if got := w.Body.String(); got != "x y true false 1" {
		t.Errorf("form: %q", got)
	}
}
