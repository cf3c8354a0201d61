package api

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Concurrency limits v2 (global limits, rate limits and leases).

// concurrencyWaits are Prefect's defaults for server.concurrency.
// maximum_concurrency_slot_wait_seconds and server.tasks.
// tag_concurrency_slot_wait_seconds; settings.Server does not carry them yet.
var concurrencyWaits = storage.ConcurrencyWaits{MaxSlotWait: 30 * time.Second, TagSlotWait: 10 * time.Second}

// limitNameRE is Prefect's pattern for v2 limit names.
var limitNameRE = regexp.MustCompile(`^[^/%&><]+$`)

var (
	errLimitV2NotFound = errDetail(http.StatusNotFound, "Concurrency Limit not found")
	errLeaseGone       = errDetail(http.StatusGone, "Lease not found - it may have expired or been revoked")
)

func (a *app) concurrencyLimitV2Routes(route route) {
	route("POST", "/v2/concurrency_limits/{$}", a.limitV2Create)
	route("POST", "/v2/concurrency_limits/filter", a.limitV2Filter)
	route("POST", "/v2/concurrency_limits/increment", a.limitV2Increment)
	route("POST", "/v2/concurrency_limits/increment-with-lease", a.limitV2IncrementWithLease)
	route("POST", "/v2/concurrency_limits/decrement", a.limitV2Decrement)
	route("POST", "/v2/concurrency_limits/decrement-with-lease", a.limitV2DecrementWithLease)
	route("POST", "/v2/concurrency_limits/leases/{lease_id}/renew", a.leaseRenew)
	route("GET", "/v2/concurrency_limits/{id_or_name}", a.limitV2Get)
	route("PATCH", "/v2/concurrency_limits/{id_or_name}", a.limitV2Update)
	route("DELETE", "/v2/concurrency_limits/{id_or_name}", a.limitV2Delete)
}

// idOrName reads the {id_or_name} path parameter: a UUID selects by id.
func idOrName(r *http.Request) storage.LimitKey {
	s := r.PathValue("id_or_name")
	if id, err := uuid.Parse(s); err == nil {
		return storage.LimitKey{ID: id}
	}
	return storage.LimitKey{Name: s}
}

// limitV2Body is the create/update body; pointers tell absent from zero.
type limitV2Body struct {
	Active             *bool    `json:"active"`
	Name               *string  `json:"name"`
	Limit              *int     `json:"limit"`
	ActiveSlots        *int     `json:"active_slots"`
	DeniedSlots        *int     `json:"denied_slots"`
	SlotDecayPerSecond *float64 `json:"slot_decay_per_second"`
}

// check applies the schema's constraints to the fields present.
func (b *limitV2Body) check(raw []byte) error {
	if b.Name != nil && !limitNameRE.MatchString(*b.Name) {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "name"}, Type: "string_pattern_mismatch", Input: *b.Name,
			Msg: "String should match pattern '^[^/%&><]+$'", Ctx: map[string]any{"pattern": "^[^/%&><]+$"},
		})
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"limit", b.Limit}, {"active_slots", b.ActiveSlots}, {"denied_slots", b.DeniedSlots}} {
		if f.v != nil {
			if err := checkMin(raw, f.name, *f.v, 0); err != nil {
				return err
			}
		}
	}
	if b.SlotDecayPerSecond != nil && *b.SlotDecayPerSecond < 0 {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "slot_decay_per_second"}, Type: "greater_than_equal", Input: *b.SlotDecayPerSecond,
			Msg: "Input should be greater than or equal to 0", Ctx: map[string]any{"ge": 0},
		})
	}
	return nil
}

func missing(raw []byte, field string) error {
	return errValidation(echoBody(raw), ValidationDetail{
		Loc: []any{"body", field}, Type: "missing", Msg: "Field required", Input: echoBody(raw),
	})
}

func (a *app) limitV2Create(w http.ResponseWriter, r *http.Request) error {
	var b limitV2Body
	raw, err := decodeBody(r, &b, false)
	if err != nil {
		return err
	}
	if b.Name == nil {
		return missing(raw, "name")
	}
	if b.Limit == nil {
		return missing(raw, "limit")
	}
	if err := b.check(raw); err != nil {
		return err
	}
	p := &storage.ConcurrencyLimitV2CreateParams{ID: uuid.New(), Name: *b.Name, Limit: *b.Limit, Active: true, Now: a.now().UTC()}
	if b.Active != nil {
		p.Active = *b.Active
	}
	if b.ActiveSlots != nil {
		p.ActiveSlots = *b.ActiveSlots
	}
	if b.DeniedSlots != nil {
		p.DeniedSlots = *b.DeniedSlots
	}
	if b.SlotDecayPerSecond != nil {
		p.SlotDecayPerSecond = *b.SlotDecayPerSecond
	}
	l, err := a.store.ConcurrencyLimitV2Create(r.Context(), p)
	if err != nil {
		return fmt.Errorf("create concurrency limit: %w", err) // ErrConflict → Prefect's 409
	}
	writeJSON(w, http.StatusCreated, l)
	return nil
}

func (a *app) limitV2Get(w http.ResponseWriter, r *http.Request) error {
	l, err := a.store.ConcurrencyLimitV2Get(r.Context(), idOrName(r), a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return errLimitV2NotFound
	}
	if err != nil {
		return fmt.Errorf("read concurrency limit: %w", err)
	}
	writeJSON(w, http.StatusOK, l.Response())
	return nil
}

func (a *app) limitV2Update(w http.ResponseWriter, r *http.Request) error {
	var b limitV2Body
	raw, err := decodeBody(r, &b, false)
	if err != nil {
		return err
	}
	if err := b.check(raw); err != nil {
		return err
	}
	u := &apitype.ConcurrencyLimitV2Update{Active: b.Active, Name: b.Name, Limit: b.Limit,
		ActiveSlots: b.ActiveSlots, DeniedSlots: b.DeniedSlots, SlotDecayPerSecond: b.SlotDecayPerSecond}
	err = a.store.ConcurrencyLimitV2Update(r.Context(), idOrName(r), u, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return errLimitV2NotFound
	}
	if err != nil {
		return fmt.Errorf("update concurrency limit: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) limitV2Delete(w http.ResponseWriter, r *http.Request) error {
	err := a.store.ConcurrencyLimitV2Delete(r.Context(), idOrName(r), false)
	if errors.Is(err, storage.ErrNotFound) {
		return errLimitV2NotFound
	}
	if err != nil {
		return fmt.Errorf("delete concurrency limit: %w", err)
	}
	writeNoContent(w)
	return nil
}

// pageBody is the limit/offset body of the concurrency /filter endpoints.
type pageBody struct {
	Limit  *int `json:"limit"`
	Offset *int `json:"offset"`
}

func (a *app) limitV2Filter(w http.ResponseWriter, r *http.Request) error {
	var b pageBody
	raw, err := decodeBody(r, &b, true)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, b.Limit, b.Offset)
	if err != nil {
		return err
	}
	out := []apitype.GlobalConcurrencyLimitResponse{}
	if win.empty() {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	ls, err := a.store.ConcurrencyLimitV2List(r.Context(), &storage.ConcurrencyLimitV2ListParams{
		Limit: win.limit, Offset: win.offset, Now: a.now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("list concurrency limits: %w", err)
	}
	for i := range ls {
		out = append(out, ls[i].Response())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// incrementBody is the body of /increment and /increment-with-lease.
type incrementBody struct {
	Slots         *int                            `json:"slots"`
	Names         []string                        `json:"names"`
	Mode          *string                         `json:"mode"`
	LeaseDuration *float64                        `json:"lease_duration"`
	Holder        *apitype.ConcurrencyLeaseHolder `json:"holder"`
}

// checkSlotsNames validates the shared slots (> 0) and names (>= 1) fields.
func checkSlotsNames(raw []byte, slots *int, names []string) error {
	if slots == nil {
		return missing(raw, "slots")
	}
	if names == nil {
		return missing(raw, "names")
	}
	if *slots <= 0 {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "slots"}, Type: "greater_than", Input: *slots,
			Msg: "Input should be greater than 0", Ctx: map[string]any{"gt": 0},
		})
	}
	if len(names) == 0 {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "names"}, Type: "too_short", Input: []string{},
			Msg: "List should have at least 1 item after validation, not 0",
			Ctx: map[string]any{"field_type": "List", "min_length": 1, "actual_length": 0},
		})
	}
	return nil
}

// checkLeaseDuration applies ge=60, le=86400 (seconds); absent is 300.
func checkLeaseDuration(raw []byte, d *float64) (time.Duration, error) {
	v := 300.0
	if d != nil {
		v = *d
	}
	if v < 60 {
		return 0, errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "lease_duration"}, Type: "greater_than_equal",
			Input: v, Msg: "Input should be greater than or equal to 60", Ctx: map[string]any{"ge": 60}})
	}
	if v > 86400 {
		return 0, errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "lease_duration"}, Type: "less_than_equal",
			Input: v, Msg: "Input should be less than or equal to 86400", Ctx: map[string]any{"le": 86400}})
	}
	return time.Duration(v * float64(time.Second)), nil
}

// decodeIncrement validates an increment body into storage params.
func decodeIncrement(r *http.Request, withLease bool, now time.Time) (*storage.ConcurrencyIncrementParams, error) {
	var b incrementBody
	raw, err := decodeBody(r, &b, false)
	if err != nil {
		return nil, err
	}
	if err := checkSlotsNames(raw, b.Slots, b.Names); err != nil {
		return nil, err
	}
	mode := apitype.ConcurrencyModeConcurrency
	if b.Mode != nil {
		mode = *b.Mode
		if err := checkEnum(raw, "mode", mode, apitype.ConcurrencyModeConcurrency, apitype.ConcurrencyModeRateLimit); err != nil {
			return nil, err
		}
	}
	p := &storage.ConcurrencyIncrementParams{Names: b.Names, Slots: *b.Slots, Mode: mode, Waits: concurrencyWaits, Now: now}
	if withLease {
		d, err := checkLeaseDuration(raw, b.LeaseDuration)
		if err != nil {
			return nil, err
		}
		if b.Holder != nil {
			if err := checkEnum(raw, "holder", b.Holder.Type, apitype.LeaseHolderFlowRun, apitype.LeaseHolderTaskRun, apitype.LeaseHolderDeployment); err != nil {
				return nil, err
			}
		}
		p.Lease = &storage.ConcurrencyLeaseParams{ID: uuid.New(), Expiration: now.Add(d), Holder: b.Holder}
	}
	return p, nil
}

// increment runs the increment and maps refusals onto Prefect's responses.
func (a *app) increment(r *http.Request, p *storage.ConcurrencyIncrementParams) (*storage.ConcurrencyIncrementResult, error) {
	res, err := a.store.ConcurrencySlotsIncrement(r.Context(), p)
	var decay *storage.RateLimitDecayError
	switch {
	case errors.Is(err, storage.ErrSlotsExceedLimit):
		return nil, errDetail(http.StatusUnprocessableEntity, "Slots requested is greater than the limit")
	case errors.As(err, &decay):
		return nil, errDetail(http.StatusUnprocessableEntity, "Only concurrency limits with slot decay can be used for "+
			"rate limiting. The following limits do not have a decay configured: '"+strings.Join(decay.Names, ",")+"'")
	case err != nil:
		return nil, fmt.Errorf("increment concurrency slots: %w", err)
	}
	if !res.Acquired {
		e := errDetail(http.StatusLocked, "Locked")
		e.Header = http.Header{"Retry-After": {formatSeconds(retryAfter(res.Limits, p.Slots, concurrencyWaits, rand.Float64))}}
		return nil, e
	}
	return res, nil
}

func minimalLimits(ls []apitype.ConcurrencyLimitV2) []apitype.MinimalConcurrencyLimitResponse {
	out := make([]apitype.MinimalConcurrencyLimitResponse, len(ls))
	for i := range ls {
		out[i] = ls[i].Minimal()
	}
	return out
}

func (a *app) limitV2Increment(w http.ResponseWriter, r *http.Request) error {
	p, err := decodeIncrement(r, false, a.now().UTC())
	if err != nil {
		return err
	}
	res, err := a.increment(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, minimalLimits(res.Limits))
	return nil
}

// limitV2IncrementWithLease answers with a lease id even when no limit
// applies (limits is then empty and the client skips renew and release).
func (a *app) limitV2IncrementWithLease(w http.ResponseWriter, r *http.Request) error {
	p, err := decodeIncrement(r, true, a.now().UTC())
	if err != nil {
		return err
	}
	res, err := a.increment(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitype.ConcurrencyLimitWithLeaseResponse{LeaseID: p.Lease.ID, Limits: minimalLimits(res.Limits)})
	return nil
}

func (a *app) limitV2Decrement(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Slots            *int     `json:"slots"`
		Names            []string `json:"names"`
		OccupancySeconds *float64 `json:"occupancy_seconds"`
	}
	raw, err := decodeBody(r, &b, false)
	if err != nil {
		return err
	}
	if err := checkSlotsNames(raw, b.Slots, b.Names); err != nil {
		return err
	}
	p := &storage.ConcurrencyDecrementParams{Names: b.Names, Slots: *b.Slots, Waits: concurrencyWaits, Now: a.now().UTC()}
	if b.OccupancySeconds != nil {
		if *b.OccupancySeconds <= 0 {
			return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "occupancy_seconds"}, Type: "greater_than",
				Input: *b.OccupancySeconds, Msg: "Input should be greater than 0", Ctx: map[string]any{"gt": 0.0}})
		}
		p.OccupancySeconds = *b.OccupancySeconds
	}
	found, err := a.store.ConcurrencySlotsDecrement(r.Context(), p)
	if err != nil {
		return fmt.Errorf("decrement concurrency slots: %w", err)
	}
	writeJSON(w, http.StatusOK, minimalLimits(found))
	return nil
}

// limitV2DecrementWithLease releases a lease; an unknown or already
// released lease is not an error (204 either way, as in Prefect).
func (a *app) limitV2DecrementWithLease(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		LeaseID *uuid.UUID `json:"lease_id"`
	}
	raw, err := decodeBody(r, &b, false)
	if err != nil {
		return err
	}
	if b.LeaseID == nil {
		return missing(raw, "lease_id")
	}
	_, err = a.store.ConcurrencyLeaseRelease(r.Context(), *b.LeaseID, storage.ConcurrencyReleaseParams{
		RecordOccupancy: true, Waits: concurrencyWaits, Now: a.now().UTC(),
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("release lease: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) leaseRenew(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "lease_id")
	if err != nil {
		return err
	}
	var b struct {
		LeaseDuration *float64 `json:"lease_duration"`
	}
	raw, err := decodeBody(r, &b, true)
	if err != nil {
		return err
	}
	d, err := checkLeaseDuration(raw, b.LeaseDuration)
	if err != nil {
		return err
	}
	now := a.now().UTC()
	err = a.store.ConcurrencyLeaseRenew(r.Context(), id, now.Add(d), now)
	if errors.Is(err, storage.ErrNotFound) {
		return errLeaseGone
	}
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	writeNoContent(w)
	return nil
}

// retryAfter is Prefect's Retry-After for a denied increment: the expected
// wait on the most blocking active limit, jittered by a clamped Poisson
// draw so that waiting clients do not retry in lockstep.
func retryAfter(limits []apitype.ConcurrencyLimitV2, slots int, w storage.ConcurrencyWaits, rnd func() float64) float64 {
	blocking := func(l *apitype.ConcurrencyLimitV2) float64 {
		if l.SlotDecayPerSecond > 0 {
			return float64(slots + l.DeniedSlots)
		}
		return float64(slots+l.DeniedSlots) / float64(max(l.Limit, 1))
	}
	var worst *apitype.ConcurrencyLimitV2
	for i := range limits {
		if limits[i].Active && (worst == nil || blocking(&limits[i]) > blocking(worst)) {
			worst = &limits[i]
		}
	}
	if worst == nil {
		return 0
	}
	var avg float64
	if worst.SlotDecayPerSecond > 0 {
		avg = blocking(worst) / worst.SlotDecayPerSecond
	} else {
		maxWait := w.MaxWaitFor(worst.Name).Seconds()
		avg = min(min(worst.AvgSlotOccupancySeconds, maxWait)*blocking(worst), maxWait)
	}
	return clampedPoisson(avg, rnd)
}

// clampedPoisson draws an exponential inter-arrival time around avg, kept
// within [c*avg, 1.3*avg] where c balances the mass around the median
// (Prefect's clamped_poisson_interval with a clamping factor of 0.3).
func clampedPoisson(avg float64, rnd func() float64) float64 {
	if avg <= 0 {
		return 0
	}
	const k = 1.3
	lowerMultiple := math.Log2(math.Max(math.Pow(2, k)/(math.Pow(2, k)-1), 1e-10))
	cdf := func(x float64) float64 { return 1 - math.Exp(-x/avg) }
	lo, hi := cdf(max(0, avg*lowerMultiple)), cdf(avg*k)
	u := lo + (hi-lo)*rnd()
	return -math.Log(math.Max(1-u, 1e-10)) * avg
}

// formatSeconds renders seconds as Python's str(float) would ("2.0", "1.25").
func formatSeconds(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}
