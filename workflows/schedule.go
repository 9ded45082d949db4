package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones resolve alike on a machine without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// Catchup says what a schedule does about the slots it missed while no
// server was running.
type Catchup string

// Catch-up policies.
const (
	CatchupNone   Catchup = "none"   // skip missed slots
	CatchupLatest Catchup = "latest" // run once, for the latest missed slot
	CatchupAll    Catchup = "all"    // run every missed slot (at most MaxCatchup of them)
)

// OnTime is how late a slot may be seen due and still be on time rather
// than missed: a server checks its schedules every second, so a slot is
// missed only when no server ran (or none could write) for a while.
const OnTime = time.Minute

// MaxCatchup bounds the runs one catch-up creates: with catchup: all, the
// latest MaxCatchup missed slots run and older ones are skipped (cairn
// backfill runs them), so that a schedule firing every second and a
// server down for a year make 100 runs, not 31 million.
const MaxCatchup = 100

// MaxBackfill bounds the slots one backfill may create.
const MaxBackfill = 10000

// Schedule is the workflow's `schedule:`: when its runs are due. A slot is
// an instant at which the zone's wall clock shows a time the cron
// expression matches, with these rules at daylight-saving changes:
//
//   - a wall time that does not exist (the hour clocks skip in spring) is
//     the instant it would be under the offset before the change (02:30
//     in Europe/Berlin on the last Sunday of March is 03:30 CEST); when
//     that instant is itself a slot (every 15 minutes), it is one slot;
//   - a wall time that occurs twice (the hour repeated in autumn) is a
//     slot once, at its first occurrence.
//
// So a daily schedule fires once a day, every day, in any zone. `@every D`
// is not a wall-clock time: its slots are the whole multiples of D since
// the Unix epoch, whatever the zone.
type Schedule struct {
	// Cron is a cron expression — five fields, or six with seconds first —
	// or a descriptor such as "@daily" or "@every 1h".
	Cron string
	// Timezone is an IANA zone name; "UTC" unless the file says otherwise.
	Timezone string
	Catchup  Catchup // CatchupNone unless the file says otherwise
	// Start and End bound the slots: none before Start, none at or after
	// End (End is exclusive); zero for no bound.
	Start, End time.Time

	spec  *cron.SpecSchedule // nil for @every
	every time.Duration      // @every's period, else 0
	loc   *time.Location
}

// cronParser reads five fields, or six with seconds first, and descriptors.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronHint is the hint of every problem of a cron expression.
const cronHint = `five fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *"; six with seconds first ("*/30 * * * * *"); or @hourly, @daily, @weekly, @monthly, @yearly, @every 1h`

// compileCron checks a cron expression and returns what computes its slots.
func compileCron(expr string) (spec *cron.SpecSchedule, every time.Duration, err error) {
	defer func() {
		if v := recover(); v != nil { // the library's parser must not take a server down
			spec, every, err = nil, 0, fmt.Errorf("%v", v)
		}
	}()
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, 0, errors.New("it carries a time zone: set schedule timezone: instead")
	}
	sc, err := cronParser.Parse(expr)
	if err != nil {
		return nil, 0, err
	}
	switch sc := sc.(type) {
	case *cron.SpecSchedule:
		if sc.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			return nil, 0, errors.New("it never fires (no day matches its day and month fields)")
		}
		return sc, 0, nil
	case cron.ConstantDelaySchedule:
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(expr, "@every")))
		if err != nil || d < time.Second || d%time.Second != 0 {
			return nil, 0, fmt.Errorf("@every takes a whole number of seconds, at least 1s (got %q)", strings.TrimSpace(strings.TrimPrefix(expr, "@every")))
		}
		return nil, d, nil
	}
	return nil, 0, fmt.Errorf("unsupported schedule %T", sc)
}

// NewSchedule checks a schedule given by its parts, as the file's
// schedule: gives them (Parse reports each problem at its line instead).
func NewSchedule(expr, timezone string, catchup Catchup, start, end time.Time) (*Schedule, error) {
	s := &Schedule{Cron: strings.TrimSpace(expr), Timezone: timezone, Catchup: catchup, Start: start, End: end}
	var err error
	if s.spec, s.every, err = compileCron(s.Cron); err != nil {
		return nil, fmt.Errorf("invalid cron expression %q: %w", expr, err)
	}
	if s.loc, err = loadZone(timezone); err != nil {
		return nil, err
	}
	switch catchup {
	case CatchupNone, CatchupLatest, CatchupAll:
	default:
		return nil, fmt.Errorf("unknown catchup %q: use none, latest or all", catchup)
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		return nil, fmt.Errorf("schedule end %s is not after its start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return s, nil
}

// loadZone loads an IANA zone, refusing "" and "Local" (whose meaning
// depends on the machine).
func loadZone(tz string) (*time.Location, error) {
	if tz == "" || strings.EqualFold(tz, "local") {
		return nil, fmt.Errorf("schedule timezone must name a zone, not %q", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown timezone %q", tz)
	}
	return loc, nil
}

// scheduleSpec is the JSON form of a schedule (Spec, ScheduleFromSpec).
type scheduleSpec struct {
	Catchup  Catchup `json:"catchup"`
	Cron     string  `json:"cron"`
	End      string  `json:"end,omitempty"`
	Start    string  `json:"start,omitempty"`
	Timezone string  `json:"timezone"`
}

// Spec is the schedule as one line of JSON — what a store keeps to tell
// a changed schedule and to compute next slots without the file.
func (s *Schedule) Spec() string {
	v := scheduleSpec{Catchup: s.Catchup, Cron: s.Cron, Timezone: s.Timezone}
	if !s.Start.IsZero() {
		v.Start = s.Start.UTC().Format(time.RFC3339Nano)
	}
	if !s.End.IsZero() {
		v.End = s.End.UTC().Format(time.RFC3339Nano)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings only: cannot fail
	return strings.TrimSpace(b.String())
}

// ScheduleFromSpec is the schedule Spec returned.
func ScheduleFromSpec(spec string) (*Schedule, error) {
	var v scheduleSpec
	if err := json.Unmarshal([]byte(spec), &v); err != nil {
		return nil, fmt.Errorf("schedule spec: %w", err)
	}
	var start, end time.Time
	var err error
	if v.Start != "" {
		if start, err = time.Parse(time.RFC3339Nano, v.Start); err != nil {
			return nil, fmt.Errorf("schedule spec start: %w", err)
		}
	}
	if v.End != "" {
		if end, err = time.Parse(time.RFC3339Nano, v.End); err != nil {
			return nil, fmt.Errorf("schedule spec end: %w", err)
		}
	}
	return NewSchedule(v.Cron, v.Timezone, v.Catchup, start, end)
}

// Location returns the schedule's time zone; it fails when Timezone is
// not a known zone.
func (s *Schedule) Location() (*time.Location, error) {
	if s.loc != nil {
		return s.loc, nil
	}
	return loadZone(s.Timezone)
}

// compiled fills what a Schedule made by hand lacks.
func (s *Schedule) compiled() error {
	if s.spec != nil || s.every > 0 {
		if s.loc == nil {
			loc, err := loadZone(s.Timezone)
			if err != nil {
				return err
			}
			s.loc = loc
		}
		return nil
	}
	c, err := NewSchedule(s.Cron, s.Timezone, s.Catchup, s.Start, s.End)
	if err != nil {
		return err
	}
	s.spec, s.every, s.loc = c.spec, c.every, c.loc
	return nil
}

// Next returns the schedule's first slot strictly after t, in its zone,
// or the zero time when there is none (past End, or none in the five
// years after t). It fails when Cron or Timezone is invalid (never for a
// Schedule that Parse returned).
func (s *Schedule) Next(t time.Time) (time.Time, error) {
	if err := s.compiled(); err != nil {
		return time.Time{}, err
	}
	return s.next(t), nil
}

func (s *Schedule) next(t time.Time) time.Time {
	if !s.Start.IsZero() && t.Before(s.Start) {
		t = s.Start.Add(-time.Nanosecond)
	}
	var n time.Time
	if s.every > 0 {
		sec := int64(s.every / time.Second)
		u := t.Unix()
		q := u / sec
		if u%sec < 0 {
			q--
		}
		n = time.Unix((q+1)*sec, 0).In(s.loc)
	} else {
		n = s.nextSpec(t)
	}
	if n.IsZero() || (!s.End.IsZero() && !n.Before(s.End)) {
		return time.Time{}
	}
	return n
}

// maxRepeatSteps bounds the wall times nextSpec passes over in an hour
// that repeats (each is a slot at its first occurrence, already past).
const maxRepeatSteps = 100000

func (s *Schedule) nextSpec(t time.Time) time.Time {
	// The wall times to try start at t's, or earlier when the zone's
	// offset a day before t was larger: a wall time the clocks skipped
	// since is a slot later than its reading (02:30 skipped is 03:30).
	lt := t.In(s.loc)
	c := civil(lt)
	_, now := lt.Zone()
	if _, before := t.Add(-24 * time.Hour).In(s.loc).Zone(); before < now {
		c = c.Add(time.Duration(before-now) * time.Second)
	}
	for range maxRepeatSteps {
		c = s.spec.Next(c)
		if c.IsZero() {
			return c
		}
		if in := instant(c, s.loc); in.After(t) {
			return in
		}
	}
	return time.Time{}
}

// civil is t's wall-clock reading as a UTC time (a clock without
// daylight saving, on which the cron library matches fields).
func civil(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// instant is the instant at which loc's wall clock reads c (a civil time
// as civil returns it): the first, when it reads c twice; when it never
// does (clocks skipped it), c under the offset in force before the skip.
func instant(c time.Time, loc *time.Location) time.Time {
	u := c.Unix()
	_, before := time.Unix(u-86400, 0).In(loc).Zone()
	_, after := time.Unix(u+86400, 0).In(loc).Zone()
	var best time.Time
	for _, off := range [2]int{before, after} {
		in := time.Unix(u-int64(off), int64(c.Nanosecond())).In(loc)
		if civil(in).Equal(c) && (best.IsZero() || in.Before(best)) {
			best = in
		}
	}
	if best.IsZero() {
		best = time.Unix(u-int64(before), int64(c.Nanosecond())).In(loc)
	}
	return best
}

// between returns the slots in (lo, hi], oldest first, at most limit, and
// whether there are more.
func (s *Schedule) between(lo, hi time.Time, limit int) ([]time.Time, bool) {
	var out []time.Time
	for t := s.next(lo); !t.IsZero() && !t.After(hi); t = s.next(t) {
		if len(out) == limit {
			return out, true
		}
		out = append(out, t)
	}
	return out, false
}

// latest returns the latest k slots in (lo, hi], oldest first, and the
// instant after which they lie: the slots in (lo, from] are older ones
// left out (from == lo when none is). It costs a few dozen passes over at
// most k+1 slots each, however many slots (lo, hi] holds: the window is
// widened by doubling from hi until it holds more than k slots, then
// narrowed by bisection to the second (slots are whole seconds).
func (s *Schedule) latest(lo, hi time.Time, k int) ([]time.Time, time.Time) {
	if k <= 0 {
		return nil, hi
	}
	if out, more := s.between(lo, hi, k); !more {
		return out, lo
	}
	fits := func(from time.Time) bool { _, more := s.between(from, hi, k); return !more }
	// good: a start whose window holds at most k slots; bad: one whose
	// window holds more.
	good, bad := hi, lo
	for w := time.Second; ; w *= 2 {
		from := hi.Add(-w)
		if !from.After(lo) || w > 1<<32*time.Second {
			break // the whole range holds more than k: bad stays lo
		}
		if !fits(from) {
			bad = from
			break
		}
		good = from
	}
	for good.Sub(bad) > time.Second {
		mid := bad.Add(good.Sub(bad) / 2).Truncate(time.Second)
		if !mid.After(bad) {
			mid = bad.Add(time.Second)
		}
		if fits(mid) {
			good = mid
		} else {
			bad = mid
		}
	}
	out, _ := s.between(good, hi, k)
	return out, good
}

// Due is what a schedule does at one look (Schedule.Due).
type Due struct {
	// Fire are the slots to run now, oldest first.
	Fire []time.Time
	// Position is the schedule's new position: every slot at or before it
	// is handled (fired, or skipped). Unchanged when nothing was due.
	Position time.Time
	// Missed are the slots that were due and are not fired: none, or the
	// first and the last of them.
	MissedFirst, MissedLast time.Time
}

// Due says which of the slots after pos (the schedule's position: the
// latest slot handled) are due by now and run. A slot up to OnTime late is
// on time and runs; older ones were missed (no server ran), and Catchup
// decides: none skips them, latest runs the latest one of them when no
// slot is on time, all runs them — at most MaxCatchup slots in all, the
// latest ones. Of several slots on time (a schedule of seconds), none and
// latest run only the latest: the others were missed.
func (s *Schedule) Due(pos, now time.Time) (Due, error) {
	d := Due{Position: pos}
	if err := s.compiled(); err != nil {
		return d, err
	}
	first := s.next(pos)
	if first.IsZero() || first.After(now) {
		return d, nil
	}
	lo := now.Add(-OnTime)
	if lo.Before(pos) {
		lo = pos
	}
	onTime, _ := s.latest(lo, now, MaxCatchup) // at most 60: slots are whole seconds
	var missed []time.Time
	if !first.After(lo) { // slots were missed
		room := 0
		switch s.Catchup {
		case CatchupLatest:
			if len(onTime) == 0 {
				room = 1
			}
		case CatchupAll:
			room = MaxCatchup - len(onTime)
		}
		var skipUpTo time.Time
		missed, skipUpTo = s.latest(pos, lo, room)
		if skipUpTo.After(pos) {
			d.MissedFirst = first
			d.MissedLast = skipUpTo
			if last, _ := s.latest(pos, skipUpTo, 1); len(last) == 1 {
				d.MissedLast = last[0]
			}
		}
	}
	if n := len(onTime); n > 1 && s.Catchup != CatchupAll {
		// Several slots within OnTime (a schedule of seconds after a
		// short outage): without catch-up all, the latest runs alone and
		// the others count as missed.
		if d.MissedFirst.IsZero() {
			d.MissedFirst = onTime[0]
		}
		d.MissedLast = onTime[n-2]
		onTime = onTime[n-1:]
	}
	d.Fire = append(missed, onTime...)
	if n := len(d.Fire); n > 0 {
		d.Position = d.Fire[n-1]
	} else if !d.MissedLast.IsZero() {
		d.Position = d.MissedLast
	}
	return d, nil
}

// Slots returns the slots from from to to, both included, oldest first,
// at most limit, and whether there are more (a backfill's range).
func (s *Schedule) Slots(from, to time.Time, limit int) ([]time.Time, bool, error) {
	if err := s.compiled(); err != nil {
		return nil, false, err
	}
	out, more := s.between(from.Add(-time.Nanosecond), to, limit)
	return out, more, nil
}

// ParseTime reads a time as a schedule's start and end are written: RFC
// 3339 with an offset, or a date (2025-01-31) or a date and time
// (2025-01-31T06:00:00) in the schedule's zone — a backfill's range.
func (s *Schedule) ParseTime(v string) (time.Time, error) {
	loc, err := s.Location()
	if err != nil {
		return time.Time{}, err
	}
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, layout := range scheduleTimeLayouts {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date or a time: give RFC 3339 (2025-01-31T06:00:00Z), or a date (2025-01-31) or a date and time (2025-01-31T06:00) in the schedule's timezone, %s", v, s.Timezone)
}
