package runjson

import (
	"time"

	"github.com/cairnml/cairn"
)

// PoolList is the pools as `cairn pools --json` prints them and GET
// /api/v1/pools answers: `{"pools": [...]}`, by name.
type PoolList struct {
	Pools []Pool `json:"pools"`
}

// Pool is one pool: its size, who declared it, the slots in use and the
// tasks holding them, and the ready tasks waiting for it (Waiting all of
// them, Queue the first cairn.MaxPoolQueue in the lease queue's order).
type Pool struct {
	Name      string       `json:"name"`
	Size      int          `json:"size"`
	Source    string       `json:"source"`
	Used      int          `json:"used"`
	Holders   []PoolHolder `json:"holders"`
	Waiting   int          `json:"waiting"`
	Queue     []PoolWaiter `json:"queue"`
	UpdatedAt *time.Time   `json:"updated_at"`
}

// PoolHolder is a task holding slots of a pool: leased or running, or
// cancelled while running and its process not yet gone (cancelling).
type PoolHolder struct {
	RunID      string `json:"run_id"`
	TaskID     string `json:"task_id"`
	Slots      int    `json:"slots"`
	Cancelling bool   `json:"cancelling"`
}

// PoolWaiter is a ready task waiting for a pool.
type PoolWaiter struct {
	RunID    string     `json:"run_id"`
	TaskID   string     `json:"task_id"`
	Slots    int        `json:"slots"`
	Priority int        `json:"priority"`
	ReadyAt  *time.Time `json:"ready_at"`
}

// FromPool is pool p's shape (holders and queue [] when empty).
func FromPool(p cairn.PoolState) Pool {
	j := Pool{Name: p.Name, Size: p.Size, Source: p.Source, Used: p.Used(), Holders: []PoolHolder{}, Waiting: p.Waiting,
		Queue: []PoolWaiter{}, UpdatedAt: Time(p.UpdatedAt)}
	for _, h := range p.Holders {
		j.Holders = append(j.Holders, PoolHolder{RunID: h.RunID, TaskID: h.TaskID, Slots: h.Slots, Cancelling: h.Cancelling})
	}
	for _, w := range p.Queue {
		j.Queue = append(j.Queue, PoolWaiter{RunID: w.RunID, TaskID: w.TaskID, Slots: w.Slots, Priority: w.Priority, ReadyAt: Time(w.ReadyAt)})
	}
	return j
}

// FromPools is the list of pools ps.
func FromPools(ps []cairn.PoolState) PoolList {
	out := PoolList{Pools: make([]Pool, 0, len(ps))}
	for _, p := range ps {
		out.Pools = append(out.Pools, FromPool(p))
	}
	return out
}
