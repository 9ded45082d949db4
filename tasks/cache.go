package tasks

import (
	"context"
	"fmt"

	"github.com/cairnml/cairn"
)

// Task caching (docs/workflows.md, Caching): an attempt whose type,
// implementation version, resolved params and input digests match an
// earlier success reuses that success's outputs instead of running.

// Versioned is a task type whose implementation's version is its own,
// known before an attempt runs: a plugin's types (the sha256 of the
// pinned binary). The executor records it with every attempt and puts
// it in the cache key; a built-in type has the version of the binary
// (executor.Options.Version). An empty version means it is not known:
// the attempt is not cached.
type Versioned interface {
	ImplVersion() string
}

// CacheDefaulter is a task type whose caching default depends on its
// params as written (values holding a reference are strings): collect is
// cached by default from its synthetic source only. It returns whether a
// task with these params is cached unless it says otherwise, and why in
// words.
type CacheDefaulter interface {
	CacheByDefault(params map[string]any) (on bool, why string)
}

// SourceDigester is a task type that reads data from outside Cairn whose
// bytes it can digest before an attempt runs (collect's file source): the
// digest is part of the attempt's cache key, so that changed data is read
// again. The executor asks again after the attempt ran and offers it for
// reuse only if the digest is the same (the data did not change while it
// was read). "" with ok adds nothing to the key; ok false means the data
// cannot be digested: the attempt is not cached.
type SourceDigester interface {
	SourceDigest(ctx context.Context, req Request) (digest string, ok bool)
}

// KnownSourceDigester is a SourceDigester that can tell the digest
// SourceDigest would return without reading the data, when it can: a
// source with nothing to digest, a file unchanged since this process
// read it. ok false means it cannot tell without reading (SourceDigest
// must be asked). The executor asks it where reading is out of place: a
// cache hit reused inside a write transaction (executor.Pool.ReuseHandedOut).
type KnownSourceDigester interface {
	SourceDigester
	KnownSourceDigest(req Request) (digest string, ok bool)
}

// CacheDefaultOf is the caching default info's policy gives, and why.
func CacheDefaultOf(info cairn.TypeInfo) (on bool, why string) {
	switch info.Cache {
	case cairn.CacheAuto:
		return true, fmt.Sprintf("type %s is cached by default", info.Name)
	case cairn.CacheNever:
		return false, fmt.Sprintf("type %s is never cached", info.Name)
	default:
		return false, fmt.Sprintf("type %s is cached only with cache: true", info.Name)
	}
}

// CacheDefault returns whether a task of type name with params as
// written is cached unless it says otherwise, and why: the type's
// CacheDefaulter if it has one (and is not CacheNever), else its policy.
// An unknown type is not cached.
func (r *Registry) CacheDefault(name string, params map[string]any) (on bool, why string) {
	t, ok := r.types[name]
	if !ok {
		return false, fmt.Sprintf("type %s is unknown", name)
	}
	info := cairn.TypeInfo{Name: name, Cache: r.policies[name]} // what CacheDefaultOf reads
	if cd, ok := t.(CacheDefaulter); ok && info.Cache != cairn.CacheNever {
		return cd.CacheByDefault(params)
	}
	return CacheDefaultOf(info)
}

// CachePolicyOf returns the caching policy of type name, and whether it
// is known.
func (r *Registry) CachePolicyOf(name string) (cairn.CachePolicy, bool) {
	if _, ok := r.types[name]; !ok {
		return "", false
	}
	return r.policies[name], true
}
