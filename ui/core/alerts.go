package core

import (
	"context"
	"fmt"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

// AlertReader lists the outbox of notify: (*sqlite.Store and
// *postgres.Store satisfy it).
type AlertReader interface {
	ListAlerts(ctx context.Context, f cairn.AlertFilter) ([]cairn.Alert, error)
}

// AlertList reads a page of alerts (one more than f.Limit tells whether
// another page follows) in their JSON shape: what the API answers and
// cairn alerts list prints on a home's database.
func AlertList(ctx context.Context, r AlertReader, f cairn.AlertFilter) (*runjson.AlertPage, error) {
	limit := f.Limit
	f.Limit++
	as, err := r.ListAlerts(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	out := &runjson.AlertPage{Alerts: make([]runjson.Alert, 0, len(as))}
	if len(as) > limit {
		as = as[:limit]
		next := as[len(as)-1].ID
		out.Next = &next
	}
	for _, a := range as {
		out.Alerts = append(out.Alerts, runjson.FromAlert(a))
	}
	return out, nil
}
