package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// This file is the routing this package needs, on net/http alone. It was
// gin's: gin and what it links (a validator, codecs for JSON, msgpack,
// BSON, YAML and TOML, QUIC) initialised themselves in every cairn
// process, a run's included, for about a millisecond of its start.

// handlerFunc is one step of a request's handling: a middleware (which
// calls c.Next to run the rest of the chain around its own work, or
// c.Abort to stop it) or the route's handler.
type handlerFunc func(c *reqCtx)

// reqCtx is one request on its way through the handlers of its route.
type reqCtx struct {
	// Request is the request; a middleware may replace it (one with a
	// caller in its context, a body bounded in size).
	Request *http.Request
	// Writer is the response. Its status is sent with the first byte of
	// the body, or at the end of the chain.
	Writer *respWriter

	params []param
	route  string // the matched route's path (":id" and all), "" for none
	chain  []handlerFunc
	index  int
	query  url.Values
	form   bool // Request.ParseMultipartForm was called
}

// param is a path parameter (":id" of a route's path), unescaped.
type param struct{ key, value string }

// aborted is the index of a chain that Abort stopped.
const aborted = 1 << 30

// Next runs the rest of the chain; a middleware calls it to work around it.
func (c *reqCtx) Next() {
	c.index++
	for c.index < len(c.chain) {
		c.chain[c.index](c)
		c.index++
	}
}

// FullPath is the path of the route the request matched, its parameters
// as ":name" ("/api/v1/runs/:id"); "" if none did.
func (c *reqCtx) FullPath() string { return c.route }

// Abort stops the chain after the handler that calls it.
func (c *reqCtx) Abort() { c.index = aborted }

// Param is the path parameter key (":key" in the route), "" if none.
func (c *reqCtx) Param(key string) string {
	for _, p := range c.params {
		if p.key == key {
			return p.value
		}
	}
	return ""
}

// Query is the first value of the query parameter key, "" if none.
func (c *reqCtx) Query(key string) string {
	if c.query == nil {
		c.query = c.Request.URL.Query()
	}
	return c.query.Get(key)
}

// GetHeader is the request's header key.
func (c *reqCtx) GetHeader(key string) string { return c.Request.Header.Get(key) }

// Header sets the response's header key; an empty value deletes it.
func (c *reqCtx) Header(key, value string) {
	if value == "" {
		c.Writer.Header().Del(key)
		return
	}
	c.Writer.Header().Set(key, value)
}

// GetPostForm is the first value of the posted form field key (URL-encoded
// or multipart), and whether the form has it.
func (c *reqCtx) GetPostForm(key string) (string, bool) {
	if !c.form {
		c.form = true
		// Errors leave the form empty: a missing field says the rest.
		_ = c.Request.ParseMultipartForm(32 << 20)
	}
	if vs := c.Request.PostForm[key]; len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}

// PostForm is the first value of the posted form field key, "" if none.
func (c *reqCtx) PostForm(key string) string {
	v, _ := c.GetPostForm(key)
	return v
}

// Status sets the response's status, sent with the first byte of the body.
func (c *reqCtx) Status(status int) { c.Writer.WriteHeader(status) }

// Data answers status with body b of content type ctype.
func (c *reqCtx) Data(status int, ctype string, b []byte) {
	c.Writer.Header().Set("Content-Type", ctype)
	c.Writer.WriteHeader(status)
	c.Writer.Write(b)
}

// String answers status with the text format makes of args.
func (c *reqCtx) String(status int, format string, args ...any) {
	c.Data(status, "text/plain; charset=utf-8", fmt.Appendf(nil, format, args...))
}

// Redirect answers status (a 3xx) with location.
func (c *reqCtx) Redirect(status int, location string) {
	http.Redirect(c.Writer, c.Request, location, status)
}

// respWriter is a response whose status waits for the first byte of the
// body (or the end of the chain, or Flush), so that a handler may still
// set headers after choosing the status.
type respWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// WriteHeader sets the status, unless the response has begun.
func (w *respWriter) WriteHeader(status int) {
	if !w.wrote && status > 0 {
		w.status = status
	}
}

// writeNow sends the status and headers if they are not sent yet.
func (w *respWriter) writeNow() {
	if !w.wrote {
		w.wrote = true
		w.ResponseWriter.WriteHeader(w.status)
	}
}

func (w *respWriter) Write(b []byte) (int, error) {
	w.writeNow()
	return w.ResponseWriter.Write(b)
}

// Written reports whether the response has begun.
func (w *respWriter) Written() bool { return w.wrote }

// Flush sends what is buffered (Server-Sent Events).
func (w *respWriter) Flush() {
	w.writeNow()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// router matches a request's method and path to a route's handlers, after
// the middleware every request goes through. A path is matched as sent
// (its escaped form), so that a task id holding a slash (escaped as %2F in
// links) stays one parameter; parameters are unescaped. A path with a
// trailing slash is not its route's (no redirect). A path that a route of
// another method has is answered by noMethod with an Allow header; any
// other by noRoute.
type router struct {
	routes   []route
	methods  []string // in the order of their first route: the Allow header's
	use      []handlerFunc
	noRoute  []handlerFunc
	noMethod []handlerFunc
}

// route is a method and a path of segments, ":name" ones being parameters.
type route struct {
	method string
	path   string
	segs   []string
	chain  []handlerFunc
}

// Use adds middleware run before every route's handlers, and before
// noRoute's and noMethod's.
func (r *router) Use(hs ...handlerFunc) { r.use = append(r.use, hs...) }

// NoRoute handles the requests whose path no route has.
func (r *router) NoRoute(hs ...handlerFunc) { r.noRoute = hs }

// NoMethod handles the requests whose path only routes of other methods have.
func (r *router) NoMethod(hs ...handlerFunc) { r.noMethod = hs }

// GET adds a GET route at the root.
func (r *router) GET(p string, hs ...handlerFunc) { r.Group("").Handle(http.MethodGet, p, hs...) }

// Group is the routes under the path prefix base.
func (r *router) Group(base string) *routeGroup { return &routeGroup{r: r, base: base} }

// routeGroup adds routes under a path prefix.
type routeGroup struct {
	r    *router
	base string
}

// BasePath is the group's prefix ("" at the root).
func (g *routeGroup) BasePath() string { return g.base }

// Handle adds the route method g's prefix + p, run by hs after the middleware.
func (g *routeGroup) Handle(method, p string, hs ...handlerFunc) {
	full := g.base + p
	if full == "" || full[0] != '/' || (len(full) > 1 && strings.HasSuffix(full, "/")) {
		panic("ui: bad route path " + full) // a programming error, caught by every test
	}
	segs := splitPath(full)
	for _, rt := range g.r.routes {
		if rt.method == method && strings.Join(rt.segs, "/") == strings.Join(segs, "/") {
			panic("ui: route " + method + " " + full + " added twice")
		}
	}
	if !contains(g.r.methods, method) {
		g.r.methods = append(g.r.methods, method)
	}
	chain := append(append([]handlerFunc{}, g.r.use...), hs...)
	g.r.routes = append(g.r.routes, route{method: method, path: full, segs: segs, chain: chain})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// splitPath is the segments of an absolute path: none for "/".
func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match reports whether the path segments segs are rt's, with the
// parameters they give (unescaped) and the route's rank: at the first
// segment where two routes differ, a literal one beats a parameter.
func (rt *route) match(segs []string, unescape bool) (params []param, rank []bool, ok bool) {
	if len(segs) != len(rt.segs) {
		return nil, nil, false
	}
	rank = make([]bool, len(segs))
	for i, s := range rt.segs {
		if strings.HasPrefix(s, ":") {
			v := segs[i]
			if v == "" {
				return nil, nil, false
			}
			if unescape {
				u, err := url.PathUnescape(v)
				if err != nil {
					return nil, nil, false
				}
				v = u
			}
			params = append(params, param{key: s[1:], value: v})
			continue
		}
		if s != segs[i] {
			return nil, nil, false
		}
		rank[i] = true
	}
	return params, rank, true
}

// better reports whether rank a beats rank b: a literal where b has a
// parameter, at the first segment where they differ.
func better(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i]
		}
	}
	return false
}

func (r *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	c := &reqCtx{Request: req, Writer: &respWriter{ResponseWriter: w, status: http.StatusOK}, index: -1}
	p, unescape := req.URL.Path, false
	if req.URL.RawPath != "" {
		p, unescape = req.URL.RawPath, true
	}
	segs := splitPath(p)
	var best *route
	var bestRank []bool
	var allowed []string
	for i := range r.routes {
		rt := &r.routes[i]
		params, rank, ok := rt.match(segs, unescape)
		if !ok {
			continue
		}
		if rt.method != req.Method {
			if !contains(allowed, rt.method) {
				allowed = append(allowed, rt.method)
			}
			continue
		}
		if best == nil || better(rank, bestRank) {
			best, bestRank, c.params = rt, rank, params
		}
	}
	switch {
	case best != nil:
		c.chain, c.route = best.chain, best.path
		c.Next()
		c.Writer.writeNow()
	case len(allowed) > 0:
		// Listed in the order the methods were first routed, as gin did.
		var allow []string
		for _, m := range r.methods {
			if contains(allowed, m) {
				allow = append(allow, m)
			}
		}
		c.Writer.Header().Set("Allow", strings.Join(allow, ", "))
		r.serveError(c, http.StatusMethodNotAllowed, r.noMethod, "405 method not allowed")
	default:
		r.serveError(c, http.StatusNotFound, r.noRoute, "404 page not found")
	}
}

// serveError runs the middleware and hs for a request no route takes,
// with status; if they answer nothing, a line of plain text says status.
func (r *router) serveError(c *reqCtx, status int, hs []handlerFunc, text string) {
	c.Writer.status = status
	c.chain = append(append([]handlerFunc{}, r.use...), hs...)
	c.Next()
	if c.Writer.Written() {
		return
	}
	if c.Writer.status == status {
		c.Writer.Header().Set("Content-Type", "text/plain")
		c.Writer.Write([]byte(text))
		return
	}
	c.Writer.writeNow()
}
