package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Concurrency limits v1 (task tags). As in Prefect 3, the v1 API is an
// adapter over v2 limits named "tag:<tag>" whose slots are held by task run
// leases; v1 concurrency_limit rows are still honoured where no v2 limit
// shadows them.

// v1LeaseTTL is the lease given to v1 slots: v1 clients never renew, they
// release explicitly.
const v1LeaseTTL = 100 * 365 * 24 * time.Hour

var errTagLimitNotFound = errDetail(http.StatusNotFound, "Concurrency limit not found")

func (a *app) concurrencyLimitRoutes(route route) {
	route("POST", "/concurrency_limits/{$}", a.tagLimitCreate)
	route("POST", "/concurrency_limits/filter", a.tagLimitFilter)
	route("POST", "/concurrency_limits/increment", a.tagLimitIncrement)
	route("POST", "/concurrency_limits/decrement", a.tagLimitDecrement)
	route("GET", "/concurrency_limits/tag/{tag}", a.tagLimitGetByTag)
	route("DELETE", "/concurrency_limits/tag/{tag}", a.tagLimitDeleteByTag)
	route("POST", "/concurrency_limits/tag/{tag}/reset", a.tagLimitReset)
	route("GET", "/concurrency_limits/{id}", a.tagLimitGet)
	route("DELETE", "/concurrency_limits/{id}", a.tagLimitDelete)
}

// v1View presents a v2 tag limit in the v1 shape: active_slots lists the
// task runs holding leases on it.
func (a *app) v1View(ctx context.Context, l *apitype.ConcurrencyLimitV2) (*apitype.ConcurrencyLimit, error) {
	leases, err := a.store.ConcurrencyLeaseHolders(ctx, l.ID, a.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("list lease holders: %w", err)
	}
	slots := []uuid.UUID{}
	for _, le := range leases {
		if le.Holder != nil && le.Holder.Type == apitype.LeaseHolderTaskRun {
			slots = append(slots, le.Holder.ID)
		}
	}
	return &apitype.ConcurrencyLimit{ID: l.ID, Created: l.Created, Updated: l.Updated,
		Tag: strings.TrimPrefix(l.Name, apitype.TagLimitPrefix), ConcurrencyLimit: l.Limit, ActiveSlots: slots}, nil
}

// tagLimitV2 returns the v2 limit of a tag, or nil.
func (a *app) tagLimitV2(ctx context.Context, key storage.LimitKey) (*apitype.ConcurrencyLimitV2, error) {
	l, err := a.store.ConcurrencyLimitV2Get(ctx, key, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read concurrency limit: %w", err)
	}
	return l, nil
}

// tagLimitCreate upserts the v2 limit of the tag: 201 when created, 200
// when an existing limit got the new value.
func (a *app) tagLimitCreate(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Tag              *string `json:"tag"`
		ConcurrencyLimit *int    `json:"concurrency_limit"`
	}
	raw, err := decodeBody(r, &b, false)
	if err != nil {
		return err
	}
	if b.Tag == nil {
		return missing(raw, "tag")
	}
	if b.ConcurrencyLimit == nil {
		return missing(raw, "concurrency_limit")
	}
	ctx, now := r.Context(), a.now().UTC()
	key := storage.LimitKey{Name: apitype.TagLimitPrefix + *b.Tag}
	status := http.StatusOK
	err = a.store.ConcurrencyLimitV2Update(ctx, key, &apitype.ConcurrencyLimitV2Update{Limit: b.ConcurrencyLimit}, now)
	if errors.Is(err, storage.ErrNotFound) {
		status = http.StatusCreated
		_, err = a.store.ConcurrencyLimitV2Create(ctx, &storage.ConcurrencyLimitV2CreateParams{
			ID: uuid.New(), Name: key.Name, Limit: *b.ConcurrencyLimit, Active: true, Now: now,
		})
		if errors.Is(err, storage.ErrConflict) { // created concurrently: update it
			status = http.StatusOK
			err = a.store.ConcurrencyLimitV2Update(ctx, key, &apitype.ConcurrencyLimitV2Update{Limit: b.ConcurrencyLimit}, now)
		}
	}
	if err != nil {
		return fmt.Errorf("upsert tag limit: %w", err)
	}
	l, err := a.tagLimitV2(ctx, key)
	if err != nil || l == nil {
		return fmt.Errorf("read tag limit: %w", cmpErr(err, storage.ErrNotFound))
	}
	v, err := a.v1View(ctx, l)
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

func (a *app) tagLimitGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	return a.writeTagLimit(w, r, storage.LimitKey{ID: id}, true)
}

func (a *app) tagLimitGetByTag(w http.ResponseWriter, r *http.Request) error {
	tag := r.PathValue("tag")
	return a.writeTagLimit(w, r, storage.LimitKey{Name: tag}, false)
}

// writeTagLimit answers a v1 read: the v2 tag limit first, then a v1 row.
func (a *app) writeTagLimit(w http.ResponseWriter, r *http.Request, key storage.LimitKey, byID bool) error {
	v2key := key
	if !byID {
		v2key.Name = apitype.TagLimitPrefix + key.Name
	}
	l, err := a.tagLimitV2(r.Context(), v2key)
	if err != nil {
		return err
	}
	if l != nil && strings.HasPrefix(l.Name, apitype.TagLimitPrefix) {
		v, err := a.v1View(r.Context(), l)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
	v1, err := a.store.TagConcurrencyLimitGet(r.Context(), key)
	if errors.Is(err, storage.ErrNotFound) {
		return errTagLimitNotFound
	}
	if err != nil {
		return fmt.Errorf("read tag limit: %w", err)
	}
	writeJSON(w, http.StatusOK, v1)
	return nil
}

// tagLimitFilter merges v2 tag limits with the v1 rows they do not shadow.
func (a *app) tagLimitFilter(w http.ResponseWriter, r *http.Request) error {
	var b pageBody
	raw, err := decodeBody(r, &b, true)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, b.Limit, b.Offset)
	if err != nil {
		return err
	}
	out := []*apitype.ConcurrencyLimit{}
	if win.empty() {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	ctx := r.Context()
	v2, err := a.store.ConcurrencyLimitV2List(ctx, &storage.ConcurrencyLimitV2ListParams{Now: a.now().UTC()})
	if err != nil {
		return fmt.Errorf("list concurrency limits: %w", err)
	}
	seen := map[string]bool{}
	for i := range v2 {
		if !strings.HasPrefix(v2[i].Name, apitype.TagLimitPrefix) {
			continue
		}
		v, err := a.v1View(ctx, &v2[i])
		if err != nil {
			return err
		}
		seen[v.Tag] = true
		out = append(out, v)
	}
	v1, err := a.store.TagConcurrencyLimitList(ctx, win.limit+win.offset, 0)
	if err != nil {
		return fmt.Errorf("list tag limits: %w", err)
	}
	for i := range v1 {
		if !seen[v1[i].Tag] {
			out = append(out, &v1[i])
		}
	}
	out = out[min(win.offset, len(out)):min(win.offset+win.limit, len(out))]
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) tagLimitDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	return a.deleteTagLimit(w, r, storage.LimitKey{ID: id}, storage.LimitKey{ID: id})
}

func (a *app) tagLimitDeleteByTag(w http.ResponseWriter, r *http.Request) error {
	tag := r.PathValue("tag")
	return a.deleteTagLimit(w, r, storage.LimitKey{Name: apitype.TagLimitPrefix + tag}, storage.LimitKey{Name: tag})
}

// deleteTagLimit deletes the v2 limit (revoking its leases) or else the v1 row.
func (a *app) deleteTagLimit(w http.ResponseWriter, r *http.Request, v2key, v1key storage.LimitKey) error {
	err := a.store.ConcurrencyLimitV2Delete(r.Context(), v2key, true)
	if errors.Is(err, storage.ErrNotFound) {
		err = a.store.TagConcurrencyLimitDelete(r.Context(), v1key)
		if errors.Is(err, storage.ErrNotFound) {
			return errTagLimitNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("delete tag limit: %w", err)
	}
	writeJSON(w, http.StatusOK, nil)
	return nil
}

// tagLimitReset replaces the holders of a tag's slots with slot_override
// (none when absent).
func (a *app) tagLimitReset(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		SlotOverride []uuid.UUID `json:"slot_override"`
	}
	if _, err := decodeBody(r, &b, true); err != nil {
		return err
	}
	tag, now := r.PathValue("tag"), a.now().UTC()
	l, err := a.tagLimitV2(r.Context(), storage.LimitKey{Name: apitype.TagLimitPrefix + tag})
	if err != nil {
		return err
	}
	if l != nil {
		err = a.store.ConcurrencyLimitV2ResetSlots(r.Context(), l.ID, b.SlotOverride, now.Add(v1LeaseTTL), now)
	} else {
		err = a.store.TagConcurrencyLimitSetSlots(r.Context(), tag, b.SlotOverride, now)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return errTagLimitNotFound
	}
	if err != nil {
		return fmt.Errorf("reset tag limit: %w", err)
	}
	writeJSON(w, http.StatusOK, nil)
	return nil
}

// tagSlotsBody is the body of the v1 increment and decrement.
type tagSlotsBody struct {
	Names     []string   `json:"names"`
	TaskRunID *uuid.UUID `json:"task_run_id"`
}

func decodeTagSlots(r *http.Request) (*tagSlotsBody, error) {
	var b tagSlotsBody
	raw, err := decodeBody(r, &b, false)
	if err != nil {
		return nil, err
	}
	if b.Names == nil {
		return nil, missing(raw, "names")
	}
	if b.TaskRunID == nil {
		return nil, missing(raw, "task_run_id")
	}
	return &b, nil
}

func tagLimitReached(tag string) *Error {
	e := errDetail(http.StatusLocked, fmt.Sprintf("Concurrency limit for the %s tag has been reached", tag))
	e.Header = http.Header{"Retry-After": {formatSeconds(concurrencyWaits.TagSlotWait.Seconds())}}
	return e
}

// tagLimitIncrement takes one slot per tag for a task run: v2 tag limits
// under one lease, v1 rows by recording the task run.
func (a *app) tagLimitIncrement(w http.ResponseWriter, r *http.Request) error {
	b, err := decodeTagSlots(r)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), a.now().UTC()
	names := make([]string, len(b.Names))
	for i, t := range b.Names {
		names[i] = apitype.TagLimitPrefix + t
	}
	v2, err := a.store.ConcurrencyLimitV2List(ctx, &storage.ConcurrencyLimitV2ListParams{Names: names, Now: now})
	if err != nil {
		return fmt.Errorf("read tag limits: %w", err)
	}
	v1, err := a.store.TagConcurrencyLimitsByTags(ctx, b.Names)
	if err != nil {
		return fmt.Errorf("read tag limits: %w", err)
	}
	v2ByTag := map[string]*apitype.ConcurrencyLimitV2{}
	for i := range v2 {
		v2ByTag[strings.TrimPrefix(v2[i].Name, apitype.TagLimitPrefix)] = &v2[i]
	}
	v1ByTag := map[string]*apitype.ConcurrencyLimit{}
	for i := range v1 {
		v1ByTag[v1[i].Tag] = &v1[i]
	}
	var v2Names, v1Tags []string
	for _, tag := range b.Names {
		l2, l1 := v2ByTag[tag], v1ByTag[tag]
		if (l2 != nil && l2.Limit == 0) || (l2 == nil && l1 != nil && l1.ConcurrencyLimit == 0) {
			return errDetail(http.StatusLocked, fmt.Sprintf(`The concurrency limit on tag "%s" is 0 and will deadlock if the task tries to run again.`, tag))
		}
		switch {
		case l2 != nil && l2.Active:
			v2Names = append(v2Names, l2.Name)
		case l2 == nil && l1 != nil:
			if len(l1.ActiveSlots) >= l1.ConcurrencyLimit {
				return tagLimitReached(tag)
			}
			v1Tags = append(v1Tags, tag)
		}
	}
	out := []apitype.MinimalConcurrencyLimitResponse{}
	var lease *storage.ConcurrencyLeaseParams
	if len(v2Names) > 0 {
		lease = &storage.ConcurrencyLeaseParams{ID: uuid.New(), Expiration: now.Add(v1LeaseTTL),
			Holder: &apitype.ConcurrencyLeaseHolder{Type: apitype.LeaseHolderTaskRun, ID: *b.TaskRunID}}
		res, err := a.store.ConcurrencySlotsIncrement(ctx, &storage.ConcurrencyIncrementParams{
			Names: v2Names, Slots: 1, Lease: lease, Waits: concurrencyWaits, Now: now})
		if err != nil && !errors.Is(err, storage.ErrSlotsExceedLimit) {
			return fmt.Errorf("increment tag limits: %w", err)
		}
		if err != nil || !res.Acquired {
			return tagLimitReached(strings.TrimPrefix(v2Names[0], apitype.TagLimitPrefix))
		}
		for _, l := range res.Limits {
			if l.Active {
				out = append(out, apitype.MinimalConcurrencyLimitResponse{ID: l.ID, Name: strings.TrimPrefix(l.Name, apitype.TagLimitPrefix), Limit: l.Limit})
			}
		}
	}
	for _, tag := range v1Tags {
		ok, err := a.store.TagConcurrencyLimitAddSlot(ctx, tag, *b.TaskRunID, now)
		if err == nil && !ok {
			err = tagLimitReached(tag)
		}
		if err != nil {
			// Give back what this request took before failing.
			if lease != nil {
				_, _ = a.store.ConcurrencyLeaseRelease(ctx, lease.ID, storage.ConcurrencyReleaseParams{Now: now, Waits: concurrencyWaits})
			}
			return err
		}
		l := v1ByTag[tag]
		out = append(out, apitype.MinimalConcurrencyLimitResponse{ID: l.ID, Name: l.Tag, Limit: l.ConcurrencyLimit})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// tagLimitDecrement releases the task run's slots on the tags.
func (a *app) tagLimitDecrement(w http.ResponseWriter, r *http.Request) error {
	b, err := decodeTagSlots(r)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), a.now().UTC()
	names := make([]string, len(b.Names))
	for i, t := range b.Names {
		names[i] = apitype.TagLimitPrefix + t
	}
	v2, err := a.store.ConcurrencyLimitV2List(ctx, &storage.ConcurrencyLimitV2ListParams{Names: names, Now: now})
	if err != nil {
		return fmt.Errorf("read tag limits: %w", err)
	}
	out := []apitype.MinimalConcurrencyLimitResponse{}
	shadowed := map[string]bool{}
	if len(v2) > 0 {
		ids := make([]uuid.UUID, len(v2))
		for i := range v2 {
			ids[i] = v2[i].ID
			shadowed[strings.TrimPrefix(v2[i].Name, apitype.TagLimitPrefix)] = true
			out = append(out, v2[i].Minimal())
		}
		holder := apitype.ConcurrencyLeaseHolder{Type: apitype.LeaseHolderTaskRun, ID: *b.TaskRunID}
		if _, err := a.store.ConcurrencyLeasesReleaseByHolder(ctx, holder, ids,
			storage.ConcurrencyReleaseParams{Waits: concurrencyWaits, Now: now}); err != nil {
			return fmt.Errorf("release tag leases: %w", err)
		}
	}
	v1, err := a.store.TagConcurrencyLimitsByTags(ctx, b.Names)
	if err != nil {
		return fmt.Errorf("read tag limits: %w", err)
	}
	for _, l := range v1 {
		if shadowed[l.Tag] {
			continue
		}
		removed, err := a.store.TagConcurrencyLimitRemoveSlot(ctx, l.Tag, *b.TaskRunID, now)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("release tag slot: %w", err)
		}
		if removed {
			out = append(out, apitype.MinimalConcurrencyLimitResponse{ID: l.ID, Name: l.Tag, Limit: l.ConcurrencyLimit})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
