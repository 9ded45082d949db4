package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/scheduler"
)

// Server is what cairn server, the commands, the web UI, serving and
// lineage use of a store beyond scheduler.Store: API tokens, the counts
// /metrics reads, lineage reads, the model registry, caching and what
// cairn gc keeps. Every store that a server may run on implements it;
// RunServer checks that they agree.
type Server interface {
	scheduler.Store

	CreateToken(ctx context.Context, t auth.Token, hash, actor string) error
	ListTokens(ctx context.Context) ([]auth.Token, error)
	RevokeToken(ctx context.Context, id, actor string) (auth.Token, error)
	AuthenticateToken(ctx context.Context, text string) (auth.Token, error)
	ValidToken(ctx context.Context, id string) (auth.Token, error)
	CountValidTokens(ctx context.Context) (int, error)
	ListAudit(ctx context.Context, f scheduler.AuditFilter) ([]scheduler.Audit, error)

	StateCounts(ctx context.Context, owner string) (scheduler.StateCounts, error)
	// SummaryTaskRuns is what a run's summary reads: the number of its
	// task runs in each state, of those counted (cairn.TaskRun.Counted),
	// and in creation order at least the task runs it may print a line
	// of — the failed ones, and the succeeded ones with metrics, a
	// "passed" output or of type deploy —, not the plain successes.
	SummaryTaskRuns(ctx context.Context, runID string) (map[cairn.TaskState]int, []*cairn.TaskRun, error)

	Artifact(ctx context.Context, digest string) (*cairn.ArtifactRecord, error)
	ArtifactsByPrefix(ctx context.Context, hexPrefix string, limit int) ([]*cairn.ArtifactRecord, error)
	ArtifactEdges(ctx context.Context, digest, dir string) ([]cairn.LineageEdge, error)
	AttemptEdges(ctx context.Context, a cairn.AttemptRef) ([]cairn.LineageEdge, error)
	Attempt(ctx context.Context, a cairn.AttemptRef) (*cairn.Attempt, error)
	LineageClosure(ctx context.Context, roots []string, dir string, depth int) (*cairn.LineageGraph, error)
	FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error)
	// OldestActiveAttempt is when the oldest attempt holding a lease
	// began ('cairn gc' keeps every artifact stored since).
	OldestActiveAttempt(ctx context.Context) (time.Time, bool, error)
	LastSuccessOf(ctx context.Context, workflow, taskID, exceptRun string, before time.Time) (*cairn.Attempt, error)
	NeededArtifacts(ctx context.Context, r scheduler.Retention) (map[string]string, error)

	Models(ctx context.Context) ([]*cairn.ModelVersion, error)
	ModelsOf(ctx context.Context, digest string) ([]*cairn.ModelVersion, error)
	ModelVersions(ctx context.Context, name string) ([]*cairn.ModelVersion, error)
	ModelVersion(ctx context.Context, name string, version int) (*cairn.ModelVersion, error)
	ProductionModel(ctx context.Context, name string) (*cairn.ModelVersion, error)
	ModelHistory(ctx context.Context, name string) ([]cairn.ModelStageChange, error)
	ModelStageSeq(ctx context.Context) (int64, error)
	PromoteModel(ctx context.Context, name string, version int, stage cairn.ModelStage, actor string, now time.Time) (*cairn.ModelVersion, error)
	RollbackModel(ctx context.Context, name, actor string, now time.Time) (*cairn.ModelVersion, error)
}

// RunServer runs the cases of Server's methods, on one store and on two
// stores of one database (Hooks.OpenSecond, whose store must be a Server
// too). open must return a new, empty store for each call.
func RunServer(t *testing.T, open func(t *testing.T) Server, h Hooks) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Server)
	}{
		{"Tokens", testTokens},
		{"WorkerToken", testWorkerToken},
		{"TokenLastUsedAtMostOncePerMinute", func(t *testing.T, s Server) { testTokenLastUsedAtMostOncePerMinute(t, s, h) }},
		{"StateCounts", testStateCounts},
		{"SummaryTaskRuns", func(t *testing.T, s Server) { testSummaryTaskRuns(t, s, h) }},
		{"LineageRecordedWithCompletion", testLineageRecordedWithCompletion},
		{"FindCachedInTx", testFindCachedInTx},
		{"ReadInputsRecorded", testReadInputsRecorded},
		{"LastSuccessOf", testLastSuccessOf},
		{"ModelRegistry", testModelRegistry},
		{"ModelChangesAudited", testModelChangesAudited},
		{"ModelStageSeq", testModelStageSeq},
		{"Rollouts", testRollouts},
		{"RolloutByHand", testRolloutByHand},
		{"ModelMinutes", testModelMinutes},
		{"ShadowInRow", testShadowInRow},
		{"ModelAlerts", testModelAlerts},
		{"ModelAlertsKept", testModelAlertsKept},
		{"ServedRows", testServedRows},
		{"EffectsOnlyOfSuccess", testEffectsOnlyOfSuccess},
		{"NeededArtifacts", testNeededArtifacts},
		{"OldestActiveAttempt", testOldestActiveAttempt},
		{"LineageClosure", testLineageClosure},
		{"LineageClosureCycle", testLineageClosureCycle},
		{"ArtifactsByPrefix", testArtifactsByPrefix},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
	two := []struct {
		name string
		fn   func(t *testing.T, a, b Server)
	}{
		{"TokenRevokeSeenAtOnce", testTwoStoresTokenRevoke},
		{"TokenTouchRace", func(t *testing.T, a, b Server) { testTwoStoresTokenTouch(t, a, b, h) }},
		{"StateCounts", testTwoStoresStateCounts},
		{"DeployRace", testTwoStoresDeployRace},
	}
	for _, tc := range two {
		t.Run("TwoStores/"+tc.name, func(t *testing.T) {
			if h.OpenSecond == nil {
				t.Skip("needs Hooks.OpenSecond: a second store on the same database")
			}
			a := open(t)
			b, ok := h.OpenSecond(t, a).(Server)
			if !ok {
				t.Fatal("Hooks.OpenSecond's store is not a storetest.Server")
			}
			tc.fn(t, a, b)
		})
	}
}

// testTwoStoresTokenRevoke: a token revoked through one store is refused
// by the other at once, by its text and by its id (a signed-in session);
// two revocations at once: one wins, the other is told it was revoked
// already, and the audit log has one entry.
func testTwoStoresTokenRevoke(t *testing.T, a, b Server) {
	ctx := context.Background()
	tok, text := newToken(t, a, auth.Operator, "shared", 0)
	if _, err := b.AuthenticateToken(ctx, text); err != nil {
		t.Fatalf("the other store before revocation: %v", err)
	}
	if _, err := b.ValidToken(ctx, tok.ID); err != nil {
		t.Fatalf("the other store's session before revocation: %v", err)
	}
	if _, err := a.RevokeToken(ctx, tok.ID, "cli:one@host"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AuthenticateToken(ctx, text); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("the other store after revocation: %v, want auth.ErrRevoked", err)
	}
	if _, err := b.ValidToken(ctx, tok.ID); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("the other store's session after revocation: %v, want auth.ErrRevoked", err)
	}
	if n, err := b.CountValidTokens(ctx); err != nil || n != 0 {
		t.Errorf("the other store counts %d valid tokens, %v", n, err)
	}

	// Both revoke one token at once.
	tok2, _ := newToken(t, a, auth.Viewer, "raced", 0)
	var (
		wg   sync.WaitGroup
		errs [2]error
	)
	for i, s := range []Server{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.RevokeToken(ctx, tok2.ID, "cli:racer@host")
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, cairn.ErrTerminal):
			t.Errorf("a losing revocation: %v, want cairn.ErrTerminal", err)
		}
	}
	if won != 1 {
		t.Errorf("%d revocations succeeded, want 1 (%v)", won, errs)
	}
	es, err := a.ListAudit(ctx, scheduler.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	revokes := 0
	for _, e := range es {
		if e.Action == scheduler.AuditTokenRevoke && e.Actor == "cli:racer@host" {
			revokes++
		}
	}
	if revokes != 1 {
		t.Errorf("%d audit entries of the raced revocation, want 1", revokes)
	}
}

// testTwoStoresTokenTouch: requests on two stores authenticating one
// token at once all succeed; last_used_at is set once, to a time within
// the race, and the requests after it within the minute write nothing on
// either store.
func testTwoStoresTokenTouch(t *testing.T, a, b Server, h Hooks) {
	ctx := context.Background()
	tok, text := newToken(t, a, auth.Admin, "", 0)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		s := []Server{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 < 2 {
				_, err := s.AuthenticateToken(ctx, text)
				errs <- err
			} else {
				_, err := s.ValidToken(ctx, tok.ID)
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("an authentication in the race: %v", err)
		}
	}
	end := time.Now()
	list, err := b.ListTokens(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListTokens: %v %v", list, err)
	}
	used := list[0].LastUsedAt
	if used.Before(start.Truncate(time.Microsecond)) || used.After(end) {
		t.Fatalf("last_used_at %v is not within the race [%v, %v]", used, start, end)
	}
	if h.Writes == nil {
		return
	}
	wa, wb := h.Writes(a), h.Writes(b)
	for _, s := range []Server{a, b, a, b} {
		if _, err := s.AuthenticateToken(ctx, text); err != nil {
			t.Fatal(err)
		}
	}
	if h.Writes(a) != wa || h.Writes(b) != wb {
		t.Errorf("authentications within the minute after the race wrote (%d, %d statements)", h.Writes(a)-wa, h.Writes(b)-wb)
	}
	if list, _ := a.ListTokens(ctx); !list[0].LastUsedAt.Equal(used) {
		t.Errorf("last_used_at moved within the minute: %v, then %v", used, list[0].LastUsedAt)
	}
}

// testTwoStoresStateCounts: the counts one store reads include what the
// other wrote, a claim the other holds included.
func testTwoStoresStateCounts(t *testing.T, a, b Server) {
	ctx := context.Background()
	at := origin()
	run, _ := newRun(t, a, at, "w", cairn.TaskReady, cairn.TaskPending)
	if _, err := a.ClaimRun(ctx, run.ID, "owner-a", at, time.Minute, false); err != nil {
		t.Fatal(err)
	}
	c, err := b.StateCounts(ctx, "owner-a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Runs[cairn.RunQueued] != 1 || c.Ready != 1 || c.Tasks[cairn.TaskPending] != 1 || c.Owned != 1 {
		t.Errorf("the other store's counts: %+v", c)
	}
	if c, err := b.StateCounts(ctx, "owner-b"); err != nil || c.Owned != 0 {
		t.Errorf("another owner: %+v %v", c, err)
	}
}

// testTwoStoresDeployRace: deploys of one model through two stores at
// once get distinct version numbers, 1 to N, and one version ends in
// production.
func testTwoStoresDeployRace(t *testing.T, a, b Server) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		s := []Server{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := deploy(t, s, origin().Add(time.Duration(i)*time.Second), "raced", cairn.StageProduction, testRef(string(rune('a'+i))), "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a deploy in the race: %v", err)
		}
	}
	vs, err := b.ModelVersions(ctx, "raced")
	if err != nil || len(vs) != n {
		t.Fatalf("versions: %d %v", len(vs), err)
	}
	prod := 0
	for i, v := range vs {
		if v.Version != n-i {
			t.Errorf("version %d at %d of newest first", v.Version, i)
		}
		if v.Stage == cairn.StageProduction {
			prod++
		}
	}
	if prod != 1 {
		t.Errorf("%d versions in production, want 1", prod)
	}
	hist, err := a.ModelHistory(ctx, "raced")
	if err != nil || len(hist) < n {
		t.Fatalf("history: %d %v", len(hist), err)
	}
}

// testLastSuccessOf: the newest success of a task in a workflow's other
// runs before a time (when the attempt asked about started), what a cache
// miss is explained against.
func testLastSuccessOf(t *testing.T, s Server) {
	ctx := context.Background()
	var runs []string
	for i := range 3 {
		at := origin().Add(time.Duration(i) * time.Hour)
		run, leases := leasedRun(t, s, at, "a")
		state := cairn.TaskSucceeded
		if i == 1 {
			state = cairn.TaskFailed
		}
		if _, err := s.Complete(ctx, leases["a"], cairn.Completion{State: state, Version: "v" + string(rune('0'+i))}, at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run.ID)
	}
	a, err := s.LastSuccessOf(ctx, "wf", "a", "", time.Time{})
	if err != nil || a.RunID != runs[2] || a.Version != "v2" || a.State != cairn.TaskSucceeded {
		t.Fatalf("the last success: %+v %v", a, err)
	}
	// Not in the run asked about; a failure is not a success.
	if a, err := s.LastSuccessOf(ctx, "wf", "a", runs[2], time.Time{}); err != nil || a.RunID != runs[0] {
		t.Fatalf("the last success outside run 2: %+v %v", a, err)
	}
	// Before a time: not a success that ended later (run 2's, when run 1's
	// attempt is explained), the bound exclusive.
	if a, err := s.LastSuccessOf(ctx, "wf", "a", runs[1], origin().Add(time.Hour)); err != nil || a.RunID != runs[0] {
		t.Fatalf("the last success before run 1's attempt: %+v %v", a, err)
	}
	if a, err := s.LastSuccessOf(ctx, "wf", "a", "", origin().Add(time.Minute+1)); err != nil || a.RunID != runs[0] {
		t.Fatalf("the last success just after run 0's ended: %+v %v", a, err)
	}
	if _, err := s.LastSuccessOf(ctx, "wf", "a", "", origin().Add(time.Minute)); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("a success that ended at the bound: %v, want cairn.ErrNotFound", err)
	}
	if _, err := s.LastSuccessOf(ctx, "other", "a", "", time.Time{}); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("another workflow: %v, want cairn.ErrNotFound", err)
	}
	if _, err := s.Attempt(ctx, cairn.AttemptRef{RunID: runs[0], TaskID: "a", Number: 2}); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("an attempt that never was: %v, want cairn.ErrNotFound", err)
	}
}
