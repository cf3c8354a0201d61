package taskqueue

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// Workers tracks the task workers connected to the scheduled-task socket,
// as Prefect's in-memory task worker tracker does. One client id may hold
// several connections (a reconnect overlapping the old socket): it stays
// listed until the last one closes. Prefect stamps a worker each second
// while its socket is up; a listed worker is connected (the socket's pings
// check it), so its timestamp is simply now.
type Workers struct {
	mu   sync.Mutex
	byID map[string]*worker
}

type worker struct {
	keys  map[string]struct{}
	conns int
}

func newWorkers() *Workers { return &Workers{byID: map[string]*worker{}} }

// Connect records a connection of client id serving keys.
func (w *Workers) Connect(id string, keys []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wk := w.byID[id]
	if wk == nil {
		wk = &worker{keys: map[string]struct{}{}}
		w.byID[id] = wk
	}
	wk.conns++
	for _, k := range keys {
		wk.keys[k] = struct{}{}
	}
}

// Disconnect ends one connection of client id.
func (w *Workers) Disconnect(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wk := w.byID[id]
	if wk == nil {
		return
	}
	if wk.conns--; wk.conns <= 0 {
		delete(w.byID, id)
	}
}

// List returns the connected workers serving any of keys (all of them when
// keys is empty), by identifier, stamped now.
func (w *Workers) List(keys []string, now time.Time) []apitype.TaskWorker {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []apitype.TaskWorker{}
	for id, wk := range w.byID {
		if len(keys) > 0 && !slices.ContainsFunc(keys, func(k string) bool { _, ok := wk.keys[k]; return ok }) {
			continue
		}
		tk := make([]string, 0, len(wk.keys))
		for k := range wk.keys {
			tk = append(tk, k)
		}
		slices.Sort(tk)
		out = append(out, apitype.TaskWorker{Identifier: id, TaskKeys: tk, Timestamp: now})
	}
	slices.SortFunc(out, func(a, b apitype.TaskWorker) int { return strings.Compare(a.Identifier, b.Identifier) })
	return out
}
