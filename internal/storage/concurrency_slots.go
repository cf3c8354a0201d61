package storage

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// Slot arithmetic shared by the engines. Engines lock the limit rows, hand
// them to these pure functions, and write back what they return, so both
// engines decay and grant exactly alike.

const (
	// occupancySamplesMultiplier sizes the moving average of slot occupancy:
	// limit * 2 samples, as Prefect does.
	occupancySamplesMultiplier = 2
	// minOccupancySecondsPerSlot keeps the average away from zero (it is a
	// divisor in denied-slot decay).
	minOccupancySecondsPerSlot = 0.1
)

func (w ConcurrencyWaits) withDefaults() ConcurrencyWaits {
	w.MaxSlotWait = cmp.Or(w.MaxSlotWait, 30*time.Second)
	w.TagSlotWait = cmp.Or(w.TagSlotWait, 10*time.Second)
	return w
}

// MaxWaitFor is the occupancy cap of a limit: the tag wait for "tag:" limits,
// the general maximum otherwise.
func (w ConcurrencyWaits) MaxWaitFor(name string) time.Duration {
	w = w.withDefaults()
	if strings.HasPrefix(name, apitype.TagLimitPrefix) {
		return w.TagSlotWait
	}
	return w.MaxSlotWait
}

// elapsed is the whole-and-fractional seconds since the row was written,
// never negative (a clock stepping back must not grow the slot count).
func elapsed(l *apitype.ConcurrencyLimitV2, now time.Time) float64 {
	return max(0, now.Sub(l.Updated).Seconds())
}

// DecayedActiveSlots is Prefect's active_slots_after_decay: slots drain at
// slot_decay_per_second since the row was last written.
func DecayedActiveSlots(l *apitype.ConcurrencyLimitV2, now time.Time) int {
	drained := int(math.Floor(l.SlotDecayPerSecond * elapsed(l, now)))
	return max(0, l.ActiveSlots-drained)
}

// DecayedDeniedSlots is Prefect's denied_slots_after_decay: rate limits drain
// denied slots at their decay rate, concurrency limits at one per (clamped)
// average occupancy.
func DecayedDeniedSlots(l *apitype.ConcurrencyLimitV2, now time.Time, w ConcurrencyWaits) int {
	rate := l.SlotDecayPerSecond
	if rate <= 0 {
		occupancy := min(l.AvgSlotOccupancySeconds, w.MaxWaitFor(l.Name).Seconds())
		rate = 1 / max(minOccupancySecondsPerSlot, occupancy)
	}
	drained := int(math.Floor(rate * elapsed(l, now)))
	return max(0, l.DeniedSlots-drained)
}

// sortByID orders rows the way engines lock them, so callers see a
// deterministic order too.
func sortByID(rows []apitype.ConcurrencyLimitV2) {
	slices.SortFunc(rows, func(a, b apitype.ConcurrencyLimitV2) int { return strings.Compare(a.ID.String(), b.ID.String()) })
}

// PlanIncrement decides an increment over the locked rows of the limits
// named. It returns the rows to write back (every active limit, decayed to
// now, with updated = now) and whether the slots were granted. When denied,
// the writes record the denied slots instead. Validation failures return an
// error and nothing to write.
func PlanIncrement(rows []apitype.ConcurrencyLimitV2, p *ConcurrencyIncrementParams) ([]apitype.ConcurrencyLimitV2, bool, error) {
	sortByID(rows)
	var active []apitype.ConcurrencyLimitV2
	for _, r := range rows {
		if r.Active {
			active = append(active, r)
		}
	}
	var noDecay []string
	for _, r := range active {
		if r.Limit < p.Slots {
			return nil, false, ErrSlotsExceedLimit
		}
		if r.SlotDecayPerSecond == 0 {
			noDecay = append(noDecay, r.Name)
		}
	}
	if p.Mode == apitype.ConcurrencyModeRateLimit && len(noDecay) > 0 {
		return nil, false, &RateLimitDecayError{Names: noDecay}
	}
	granted := true
	for _, r := range active {
		if DecayedActiveSlots(&r, p.Now)+p.Slots > r.Limit {
			granted = false
		}
	}
	writes := make([]apitype.ConcurrencyLimitV2, len(active))
	for i, r := range active {
		w := r
		w.ActiveSlots = DecayedActiveSlots(&r, p.Now)
		w.DeniedSlots = DecayedDeniedSlots(&r, p.Now, p.Waits)
		if granted {
			w.ActiveSlots += p.Slots
		} else {
			w.DeniedSlots += p.Slots
		}
		w.Updated = p.Now
		writes[i] = w
	}
	return writes, granted, nil
}

// PlanDecrement frees slots on the locked rows' active limits (never below
// zero) and, when occupancySeconds > 0, folds the occupancy per slot into
// the moving average. It returns the rows to write back.
func PlanDecrement(rows []apitype.ConcurrencyLimitV2, slots int, occupancySeconds float64, now time.Time, w ConcurrencyWaits) []apitype.ConcurrencyLimitV2 {
	sortByID(rows)
	var writes []apitype.ConcurrencyLimitV2
	for _, r := range rows {
		if !r.Active {
			continue
		}
		out := r
		out.ActiveSlots = max(0, DecayedActiveSlots(&r, now)-slots)
		out.DeniedSlots = DecayedDeniedSlots(&r, now, w)
		if occupancySeconds > 0 && slots > 0 && r.Limit > 0 {
			perSlot := max(occupancySeconds/float64(slots), minOccupancySecondsPerSlot)
			samples := float64(r.Limit * occupancySamplesMultiplier)
			out.AvgSlotOccupancySeconds = r.AvgSlotOccupancySeconds + perSlot/samples - r.AvgSlotOccupancySeconds/samples
		}
		out.Updated = now
		writes = append(writes, out)
	}
	return writes
}

// DecayRows returns the rows with ActiveSlots decayed to now, for reads.
func DecayRows(rows []apitype.ConcurrencyLimitV2, now time.Time) []apitype.ConcurrencyLimitV2 {
	for i := range rows {
		rows[i].ActiveSlots = DecayedActiveSlots(&rows[i], now)
	}
	return rows
}

// DecodeSlotList decodes a v1 active_slots JSON list of task run ids.
func DecodeSlotList(s string) ([]uuid.UUID, error) {
	out := []uuid.UUID{}
	if s == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("decode active slots: %w", err)
	}
	if out == nil {
		out = []uuid.UUID{}
	}
	return out, nil
}
