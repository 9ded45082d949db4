package core

import (
	"context"
	"fmt"
)

// Access is what a route of the server (package ui) asks of its caller.
type Access int

// Levels of access, each including the ones before it.
const (
	// Open routes answer anyone: the static assets, health.
	Open Access = iota
	// Read: pages and GET routes of the API (a viewer token).
	Read
	// Operate: trigger, cancel, retry, resume (an operator token).
	Operate
	// Admin: token management (an admin token).
	Admin
)

func (a Access) String() string {
	switch a {
	case Open:
		return "open"
	case Read:
		return "read"
	case Operate:
		return "operate"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("access(%d)", int(a))
}

// Caller is who makes a request, as authentication found them. The write
// actions record Caller.Actor in the audit log (CallerFrom).
type Caller struct {
	// Actor is what the audit log records: the token's id, or NoAuthActor.
	Actor string
	// Name and Role are the token's ("" when there is none).
	Name, Role string
	// Access is the most the caller may do.
	Access Access
	// Bearer: the credentials came in an Authorization header, which a
	// browser never adds on its own, so no CSRF token is asked for.
	Bearer bool
}

// NoAuthActor is the audit log's actor for what a server without
// authentication (cairn server --insecure-no-auth) was asked to do.
const NoAuthActor = "insecure-no-auth"

type callerKey struct{}

// WithCaller returns ctx carrying c, for a ui.Options.Authorize to say who
// the caller is.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller a request's context carries (set by the
// authentication before every route above Open access).
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
