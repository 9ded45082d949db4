package workflows

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustSchedule(t *testing.T, expr, tz string, c Catchup) *Schedule {
	t.Helper()
	s, err := NewSchedule(expr, tz, c, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// slots lists the slots in (from, to].
func slots(t *testing.T, s *Schedule, from, to time.Time) []time.Time {
	t.Helper()
	out, more := s.between(from, to, 10000)
	if more {
		t.Fatal("too many slots")
	}
	return out
}

func fmtSlots(ts []time.Time) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(t.Format("01-02T15:04:05Z07:00"))
	}
	return b.String()
}

func TestScheduleParseErrors(t *testing.T) {
	cases := []struct {
		schedule string
		want     string // FILE:LINE:COL: message
	}{
		{`{cron: "* * *"}`, `wf.yaml:2:18: invalid cron expression "* * *": expected 5 to 6 fields, found 3`},
		{`{cron: "@every 500ms"}`, `wf.yaml:2:18: invalid cron expression "@every 500ms": @every takes a whole number of seconds, at least 1s`},
		{`{cron: "@every 1500ms"}`, `@every takes a whole number of seconds`},
		{`{cron: "0 0 30 2 *"}`, `wf.yaml:2:18: invalid cron expression "0 0 30 2 *": it never fires`},
		{`{cron: "TZ=Europe/Berlin 0 3 * * *"}`, `carries a time zone`},
		{`{cron: "@daily", timezone: Local}`, `wf.yaml:2:38: schedule timezone must name a zone, not "Local"`},
		{`{cron: "@daily", timezone: "Europe/Berlni"}`, `wf.yaml:2:38: unknown timezone "Europe/Berlni"`},
		{`{cron: "@daily", catchup: lastest}`, `wf.yaml:2:37: unknown catchup "lastest"`},
		{`{cron: "@daily", start: "2025-13-01"}`, `wf.yaml:2:35: schedule start "2025-13-01" is not a date or a time`},
		{`{cron: "@daily", start: 2025-02-01, end: 2025-01-01}`, `wf.yaml:2:52: schedule end 2025-01-01T00:00:00Z is not after its start 2025-02-01T00:00:00Z`},
		{`{cron: "@daily", end: [1]}`, `wf.yaml:2:33: schedule end must be a date or a time, not a list`},
		{`{cron: 5}`, `wf.yaml:2:18: schedule cron must be a string`},
	}
	for _, c := range cases {
		src := "name: wf\nschedule: " + c.schedule + "\ntasks:\n  - {id: a, type: noop}\n"
		_, err := Parse("wf.yaml", []byte(src), opts())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.schedule, err, c.want)
		}
	}
}

func TestScheduleParse(t *testing.T) {
	src := `name: wf
schedule:
  cron: "*/30 * * * * *"
  timezone: Europe/Berlin
  catchup: all
  start: 2025-03-01
  end: "2025-04-01T06:30:00Z"
tasks:
  - {id: a, type: noop}
`
	w, err := Parse("wf.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	s := w.Schedule
	berlin := mustZone(t, "Europe/Berlin")
	if !s.Start.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, berlin)) || !s.End.Equal(time.Date(2025, 4, 1, 6, 30, 0, 0, time.UTC)) {
		t.Errorf("start %v end %v", s.Start, s.End)
	}
	// Seconds: every 30 s.
	got := slots(t, s, time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC), time.Date(2025, 3, 10, 12, 1, 0, 0, time.UTC))
	if fmtSlots(got) != "03-10T13:00:30+01:00 03-10T13:01:00+01:00" {
		t.Errorf("every 30s: %s", fmtSlots(got))
	}
	// Nothing before start, nothing at or after end.
	if n, _ := s.Next(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)); !n.Equal(s.Start) {
		t.Errorf("first slot %v, want the start %v", n, s.Start)
	}
	if n, _ := s.Next(time.Date(2025, 4, 1, 6, 29, 30, 0, time.UTC)); !n.IsZero() {
		t.Errorf("slot at the end %v, want none (end is exclusive)", n)
	}
	// The start and end are part of the digest; the spec round-trips.
	w2, err := Parse("wf.yaml", []byte(strings.Replace(src, "2025-03-01", "2025-03-02", 1)), opts())
	if err != nil || w2.Digest == w.Digest {
		t.Errorf("a changed start keeps the digest: %v", err)
	}
	back, err := ScheduleFromSpec(s.Spec())
	if err != nil || back.Spec() != s.Spec() || !back.Start.Equal(s.Start) || back.Catchup != CatchupAll {
		t.Errorf("spec %s round-trips as %+v, %v", s.Spec(), back, err)
	}
}

// TestScheduleDSTBerlin: Europe/Berlin skips 02:00-03:00 on 2025-03-30
// and repeats 02:00-03:00 on 2025-10-26.
func TestScheduleDSTBerlin(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	at := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2025, mo, d, h, mi, 0, 0, berlin) }
	daily := mustSchedule(t, "30 2 * * *", "Europe/Berlin", CatchupNone)
	// Spring: 02:30 does not exist; the slot is 03:30 CEST, once.
	got := slots(t, daily, at(3, 29, 0, 0), at(3, 31, 23, 0))
	if s := fmtSlots(got); s != "03-29T02:30:00+01:00 03-30T03:30:00+02:00 03-31T02:30:00+02:00" {
		t.Errorf("daily 02:30 over the spring change: %s", s)
	}
	// From just before that slot, and due at it.
	if n, _ := daily.Next(at(3, 30, 3, 29)); !n.Equal(at(3, 30, 3, 30)) {
		t.Errorf("next after 03:29 CEST = %v, want 03:30 CEST", n)
	}
	if d, _ := daily.Due(at(3, 29, 12, 0), at(3, 30, 3, 30)); fmtSlots(d.Fire) != "03-30T03:30:00+02:00" {
		t.Errorf("due at 03:30 CEST: %+v", d)
	}
	// Autumn: 02:30 happens twice; one slot, the first (CEST).
	got = slots(t, daily, at(10, 25, 0, 0), at(10, 27, 23, 0))
	if s := fmtSlots(got); s != "10-25T02:30:00+02:00 10-26T02:30:00+02:00 10-27T02:30:00+01:00" {
		t.Errorf("daily 02:30 over the autumn change: %s", s)
	}
	// Every 30 minutes: the skipped hour has no slot of its own (02:00
	// and 02:30 fall on 03:00 and 03:30, which are slots already).
	half := mustSchedule(t, "*/30 * * * *", "Europe/Berlin", CatchupNone)
	got = slots(t, half, at(3, 30, 1, 0), at(3, 30, 4, 0))
	if s := fmtSlots(got); s != "03-30T01:30:00+01:00 03-30T03:00:00+02:00 03-30T03:30:00+02:00 03-30T04:00:00+02:00" {
		t.Errorf("every 30 min over the spring change: %s", s)
	}
	// The repeated hour runs once: 02:00 and 02:30 CEST, then 03:00 CET.
	from := time.Date(2025, 10, 25, 23, 0, 0, 0, time.UTC) // 01:00 CEST
	got = slots(t, half, from, from.Add(3*time.Hour))
	if s := fmtSlots(got); s != "10-26T01:30:00+02:00 10-26T02:00:00+02:00 10-26T02:30:00+02:00 10-26T03:00:00+01:00" {
		t.Errorf("every 30 min over the autumn change: %s", s)
	}
	// Next from inside the second 02:xx goes on to 03:00 CET.
	inRepeat := time.Date(2025, 10, 26, 1, 10, 0, 0, time.UTC) // 02:10 CET
	if n, _ := half.Next(inRepeat); !n.Equal(time.Date(2025, 10, 26, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("next after 02:10 CET = %v, want 03:00 CET", n.In(berlin))
	}
}

// TestScheduleDSTNewYork: America/New_York skips 02:00-03:00 on
// 2025-03-09 and repeats 01:00-02:00 on 2025-11-02.
func TestScheduleDSTNewYork(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	s := mustSchedule(t, "15 1,2 * * *", "America/New_York", CatchupNone)
	got := slots(t, s, time.Date(2025, 3, 9, 0, 0, 0, 0, ny), time.Date(2025, 3, 9, 5, 0, 0, 0, ny))
	if f := fmtSlots(got); f != "03-09T01:15:00-05:00 03-09T03:15:00-04:00" {
		t.Errorf("spring: %s", f)
	}
	got = slots(t, s, time.Date(2025, 11, 2, 0, 0, 0, 0, ny), time.Date(2025, 11, 2, 5, 0, 0, 0, ny))
	if f := fmtSlots(got); f != "11-02T01:15:00-04:00 11-02T02:15:00-05:00" {
		t.Errorf("autumn: %s", f)
	}
}

func TestScheduleEvery(t *testing.T) {
	s := mustSchedule(t, "@every 90s", "Europe/Berlin", CatchupNone)
	n, _ := s.Next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	// Whole multiples of 90 s since the epoch, whatever the zone.
	if n.Unix()%90 != 0 || n.Sub(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) > 90*time.Second {
		t.Errorf("@every 90s: %v", n)
	}
	if n2, _ := s.Next(n); n2.Sub(n) != 90*time.Second {
		t.Errorf("@every 90s then %v", n2)
	}
}

func TestScheduleDue(t *testing.T) {
	hourly := func(c Catchup) *Schedule { return mustSchedule(t, "0 * * * *", "UTC", c) }
	pos := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	h := func(hour, minute int) time.Time { return time.Date(2025, 1, 1, hour, minute, 0, 0, time.UTC) }

	// On time: nothing due, then the slot, whatever the catch-up.
	for _, c := range []Catchup{CatchupNone, CatchupLatest, CatchupAll} {
		d, _ := hourly(c).Due(pos, h(10, 59))
		if len(d.Fire) != 0 || !d.Position.Equal(pos) {
			t.Errorf("%s: before the slot: %+v", c, d)
		}
		d, _ = hourly(c).Due(pos, h(11, 0).Add(30*time.Second))
		if fmtSlots(d.Fire) != "01-01T11:00:00Z" || !d.Position.Equal(h(11, 0)) || !d.MissedFirst.IsZero() {
			t.Errorf("%s: on time: %+v", c, d)
		}
	}
	// Down from 10:00 to 14:30: 11, 12, 13, 14 missed.
	now := h(14, 30)
	d, _ := hourly(CatchupNone).Due(pos, now)
	if len(d.Fire) != 0 || !d.Position.Equal(h(14, 0)) || !d.MissedFirst.Equal(h(11, 0)) || !d.MissedLast.Equal(h(14, 0)) {
		t.Errorf("none: %+v", d)
	}
	d, _ = hourly(CatchupLatest).Due(pos, now)
	if fmtSlots(d.Fire) != "01-01T14:00:00Z" || !d.Position.Equal(h(14, 0)) || !d.MissedFirst.Equal(h(11, 0)) || !d.MissedLast.Equal(h(13, 0)) {
		t.Errorf("latest: %+v", d)
	}
	d, _ = hourly(CatchupAll).Due(pos, now)
	if fmtSlots(d.Fire) != "01-01T11:00:00Z 01-01T12:00:00Z 01-01T13:00:00Z 01-01T14:00:00Z" || !d.Position.Equal(h(14, 0)) || !d.MissedFirst.IsZero() {
		t.Errorf("all: %+v", d)
	}
	// Back up at 15:00:10: 15:00 is on time; latest runs it alone.
	d, _ = hourly(CatchupLatest).Due(pos, h(15, 0).Add(10*time.Second))
	if fmtSlots(d.Fire) != "01-01T15:00:00Z" || !d.MissedFirst.Equal(h(11, 0)) || !d.MissedLast.Equal(h(14, 0)) {
		t.Errorf("latest with a slot on time: %+v", d)
	}
	// A slot every 2 s, down for 11 s: five slots within OnTime. None and
	// latest run the latest alone, the others missed; all runs them all.
	every2 := func(c Catchup) *Schedule { return mustSchedule(t, "*/2 * * * * *", "UTC", c) }
	sec := func(s int) time.Time { return pos.Add(time.Duration(s) * time.Second) }
	for _, c := range []Catchup{CatchupNone, CatchupLatest} {
		d, _ = every2(c).Due(sec(0), sec(11))
		if fmtSlots(d.Fire) != "01-01T10:00:10Z" || !d.Position.Equal(sec(10)) || !d.MissedFirst.Equal(sec(2)) || !d.MissedLast.Equal(sec(8)) {
			t.Errorf("%s, seconds on time: %+v", c, d)
		}
	}
	if d, _ = every2(CatchupAll).Due(sec(0), sec(11)); len(d.Fire) != 5 || !d.MissedFirst.IsZero() {
		t.Errorf("all, seconds on time: %+v", d)
	}
	// A clock gone back behind the position: nothing is due again.
	d, _ = hourly(CatchupAll).Due(h(14, 0), h(12, 30))
	if len(d.Fire) != 0 || !d.Position.Equal(h(14, 0)) {
		t.Errorf("clock back: %+v", d)
	}
	// End date: nothing at or after it, however late.
	ended, _ := NewSchedule("0 * * * *", "UTC", CatchupAll, time.Time{}, h(12, 0))
	d, _ = ended.Due(pos, now)
	if fmtSlots(d.Fire) != "01-01T11:00:00Z" {
		t.Errorf("end date: %+v", d)
	}
	d, _ = ended.Due(h(11, 0), now)
	if len(d.Fire) != 0 || !d.Position.Equal(h(11, 0)) {
		t.Errorf("after the end: %+v", d)
	}
}

// TestScheduleDueHostile: a slot every second, catch-up all, a year
// down: MaxCatchup runs, the latest, found without walking 31 million
// slots.
func TestScheduleDueHostile(t *testing.T) {
	s := mustSchedule(t, "* * * * * *", "UTC", CatchupAll)
	pos := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := pos.AddDate(1, 0, 0).Add(500 * time.Millisecond)
	start := time.Now()
	d, err := s.Due(pos, now)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if len(d.Fire) != MaxCatchup {
		t.Fatalf("%d slots fired, want %d", len(d.Fire), MaxCatchup)
	}
	last := now.Truncate(time.Second)
	if !d.Fire[MaxCatchup-1].Equal(last) || !d.Fire[0].Equal(last.Add(-(MaxCatchup-1)*time.Second)) || !d.Position.Equal(last) {
		t.Errorf("fired %v .. %v, position %v", d.Fire[0], d.Fire[MaxCatchup-1], d.Position)
	}
	if !d.MissedFirst.Equal(pos.Add(time.Second)) || !d.MissedLast.Equal(d.Fire[0].Add(-time.Second)) {
		t.Errorf("missed %v .. %v", d.MissedFirst, d.MissedLast)
	}
	if took > 5*time.Second { // it walks a few thousand slots; a walk of all would take minutes
		t.Errorf("Due took %v", took)
	}
	// Slots: bounded too.
	got, more, _ := s.Slots(pos, now, MaxBackfill)
	if len(got) != MaxBackfill || !more {
		t.Errorf("Slots: %d, more %v", len(got), more)
	}
}

func TestScheduleFromSpecErrors(t *testing.T) {
	for _, spec := range []string{`{`, `{"cron":"@daily","timezone":"Nowhere/City","catchup":"none"}`, `{"cron":"x","timezone":"UTC","catchup":"none"}`,
		`{"cron":"@daily","timezone":"UTC","catchup":"sometimes"}`} {
		if _, err := ScheduleFromSpec(spec); err == nil {
			t.Errorf("%s: no error", spec)
		}
	}
	var s *Schedule = &Schedule{Cron: "0 3 * * *", Timezone: "Nowhere"}
	if _, err := s.Next(time.Now()); err == nil || errors.Is(err, nil) {
		t.Errorf("a schedule made by hand with a bad zone: %v", err)
	}
}

// TestScheduleNextConsistent: in zones with daylight saving (Lord Howe's
// is half an hour), Next from any instant is the first slot after it of
// the chain Next walks from the year's start, and the chain only grows.
func TestScheduleNextConsistent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tz := range []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"} {
		for _, expr := range []string{"30 2 * * *", "*/15 * * * *", "0 * * * *", "0 0 * * *", "15 1,2,3 * * *"} {
			s := mustSchedule(t, expr, tz, CatchupNone)
			from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			chain, _ := s.between(from, from.AddDate(1, 0, 0), 100000)
			for i := 1; i < len(chain); i++ {
				if !chain[i].After(chain[i-1]) {
					t.Fatalf("%s %s: %v then %v", tz, expr, chain[i-1], chain[i])
				}
			}
			for range 2000 {
				at := from.Add(time.Duration(rng.Int64N(int64(360 * 24 * time.Hour))))
				if rng.IntN(4) == 0 { // on a slot
					at = chain[rng.IntN(len(chain)-1)]
				}
				i, _ := slices.BinarySearchFunc(chain, at, func(x, y time.Time) int { return x.Compare(y) })
				if i < len(chain) && chain[i].Equal(at) {
					i++
				}
				if n, _ := s.Next(at); !n.Equal(chain[i]) {
					t.Fatalf("%s %s: Next(%v) = %v, want %v", tz, expr, at, n, chain[i])
				}
			}
		}
	}
}
