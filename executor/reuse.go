package executor

import (
	"context"
	"encoding/json"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// remembered is an artifact store that tells whether it would hash a blob
// to verify it (*artifacts.Dir.Remembered).
type remembered interface {
	Remembered(ref cairn.ArtifactRef) bool
}

// maxHashInWrite is how many bytes of artifacts not verified before
// ReuseHandedOut hashes for one work item: it runs inside a write
// transaction, which holds every other writer of the database meanwhile.
// A hit with more is left to the worker, which hashes them outside it.
const maxHashInWrite = 1 << 20

// maxMissed bounds Pool.missed: past it, it is emptied.
const maxMissed = 4096

// ReuseHandedOut is scheduler.Reuser: given a work item a completion's
// write just handed to this pool (not yet committed, nor given to a
// slot), it returns the completion the slot would report for it when its
// cache key finds an earlier success whose artifact outputs are intact —
// the same key, lookup (find: in the write's transaction; nil, the
// pool's Cache), check and completion as run's (reuse), with no
// log (as a reuse of the first hit writes none) — and true, for the
// scheduler to record in that same write. It answers false, leaving the
// item to its slot as before, for an item of another worker, one not
// cached, a type it does not know or that reads data from outside whose
// digest cannot be told without reading it (tasks.SourceDigester, unless
// its KnownSourceDigest answers: collect's file unchanged since this
// process read it; else its slot reads it), a miss, a first
// hit that is not of the item's type or not intact (the slot says why in
// the attempt's log), or when checking the hit would mean hashing more
// than maxHashInWrite bytes (the slot hashes them, outside the write). A
// miss is remembered for the slot, which then does not look again.
func (p *Pool) ReuseHandedOut(ctx context.Context, it cairn.WorkItem, find func(key string, limit int) ([]cairn.CachedAttempt, error)) (cairn.Completion, bool) {
	if p.o.Cache == nil || !it.Cache || it.Lease.Worker != p.o.Worker || p.leaseCtx == nil || p.leaseCtx.Err() != nil || p.Err() != nil {
		return cairn.Completion{}, false
	}
	task, ok := p.o.Types.Lookup(it.Type)
	if !ok {
		return cairn.Completion{}, false
	}
	version, key := p.cacheKey(it, task)
	if key == "" {
		return cairn.Completion{}, false
	}
	if _, digests := task.(tasks.SourceDigester); digests {
		// Its source is not read here: only a digest known without
		// reading it will do.
		kd, ok := task.(tasks.KnownSourceDigester)
		if !ok {
			return cairn.Completion{}, false
		}
		src, ok := kd.KnownSourceDigest(sourceRequest(it))
		if !ok {
			return cairn.Completion{}, false
		}
		if src != "" {
			key = cairn.SourceCacheKey(key, src)
		}
	}
	if find == nil {
		find = func(key string, limit int) ([]cairn.CachedAttempt, error) {
			return p.o.Cache.FindCached(ctx, key, limit)
		}
	}
	hits, err := find(key, cacheHits)
	if err != nil {
		return cairn.Completion{}, false
	}
	if len(hits) == 0 {
		if p.nmissed.Add(1) > maxMissed {
			p.missed.Clear()
			p.nmissed.Store(1)
		}
		p.missed.Store(it.Lease.Token, key)
		return cairn.Completion{}, false
	}
	h := hits[0]
	if h.Type != "" && h.Type != it.Type || !p.cheapToVerify(h.Outputs) || p.intact(ctx, h.Outputs) != nil {
		return cairn.Completion{}, false
	}
	c := cairn.Completion{State: cairn.TaskSucceeded, Outputs: h.Outputs, Metrics: h.Metrics, CachedFrom: h.Attempt}
	provenance(&c, version, key)
	return p.bound(c, it.Lease), true
}

// missedBefore reports whether ReuseHandedOut found no success under key
// for the attempt of lease token, and forgets it.
func (p *Pool) missedBefore(token, key string) bool {
	v, ok := p.missed.LoadAndDelete(token)
	if ok {
		p.nmissed.Add(-1)
	}
	return ok && v.(string) == key
}

// cheapToVerify reports whether checking the artifacts among outputs
// intact hashes at most maxHashInWrite bytes: those the artifact store
// remembers as hashed are not read again.
func (p *Pool) cheapToVerify(outputs map[string]json.RawMessage) bool {
	var big []cairn.ArtifactRef // when there are more than maxHashInWrite bytes in all
	var n int64
	for _, v := range outputs {
		if len(v) == 0 || v[0] != '{' {
			continue
		}
		if ref, ok := cairn.AsArtifactRef(v); ok {
			n += ref.Size
			big = append(big, ref)
		}
	}
	if n <= maxHashInWrite {
		return true // whatever is remembered: no stat more than the check's
	}
	rm, ok := p.o.Artifacts.(remembered)
	if !ok {
		return false
	}
	n = 0
	for _, ref := range big {
		if rm.Remembered(ref) {
			continue
		}
		if n += ref.Size; n > maxHashInWrite {
			return false
		}
	}
	return true
}
