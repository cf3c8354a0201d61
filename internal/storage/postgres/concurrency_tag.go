package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// v1 tag concurrency limits: active_slots is a jsonb list of task run ids.

const tagLimitColumns = `id, created, updated, tag, concurrency_limit, active_slots`

func scanTagLimit(r pgx.Row) (*apitype.ConcurrencyLimit, error) {
	var (
		l     apitype.ConcurrencyLimit
		slots string
	)
	if err := r.Scan(&l.ID, &l.Created, &l.Updated, &l.Tag, &l.ConcurrencyLimit, &slots); err != nil {
		return nil, interpretError(err)
	}
	l.Created, l.Updated = l.Created.UTC(), l.Updated.UTC()
	var err error
	if l.ActiveSlots, err = storage.DecodeSlotList(slots); err != nil {
		return nil, err
	}
	return &l, nil
}

func queryTagLimits(ctx context.Context, q rowsQuerier, where, tail string, args ...any) ([]apitype.ConcurrencyLimit, error) {
	rows, err := q.Query(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE `+where+` `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("select tag limits: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.ConcurrencyLimit, error) {
		l, err := scanTagLimit(r)
		if err != nil {
			return apitype.ConcurrencyLimit{}, err
		}
		return *l, nil
	})
	if err != nil {
		return nil, fmt.Errorf("select tag limits: %w", err)
	}
	if out == nil {
		out = []apitype.ConcurrencyLimit{}
	}
	return out, nil
}

// TagConcurrencyLimitCreate implements storage.Store.
func (s *Store) TagConcurrencyLimitCreate(ctx context.Context, p *storage.TagConcurrencyLimitCreateParams) (*apitype.ConcurrencyLimit, error) {
	l, err := scanTagLimit(s.pool.QueryRow(ctx, `INSERT INTO concurrency_limit (`+tagLimitColumns+`)
		VALUES ($1, $2, $2, $3, $4, '[]'::jsonb) RETURNING `+tagLimitColumns, p.ID, storage.DBTime(p.Now), p.Tag, p.Limit))
	if err != nil {
		return nil, fmt.Errorf("insert tag limit: %w", err)
	}
	return l, nil
}

// TagConcurrencyLimitGet implements storage.Store.
func (s *Store) TagConcurrencyLimitGet(ctx context.Context, key storage.LimitKey) (*apitype.ConcurrencyLimit, error) {
	where, arg := limitKeyWhere(key, "tag", 1)
	l, err := scanTagLimit(s.pool.QueryRow(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE `+where, arg))
	if err != nil {
		return nil, fmt.Errorf("get tag limit: %w", err)
	}
	return l, nil
}

// TagConcurrencyLimitList implements storage.Store.
func (s *Store) TagConcurrencyLimitList(ctx context.Context, limit, offset int) ([]apitype.ConcurrencyLimit, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	return queryTagLimits(ctx, s.pool, `true`, `ORDER BY tag LIMIT $1 OFFSET $2`, lim, max(offset, 0))
}

// TagConcurrencyLimitsByTags implements storage.Store.
func (s *Store) TagConcurrencyLimitsByTags(ctx context.Context, tags []string) ([]apitype.ConcurrencyLimit, error) {
	return queryTagLimits(ctx, s.pool, `tag = ANY($1::text[])`, `ORDER BY tag`, nonNil(tags))
}

// TagConcurrencyLimitDelete implements storage.Store.
func (s *Store) TagConcurrencyLimitDelete(ctx context.Context, key storage.LimitKey) error {
	where, arg := limitKeyWhere(key, "tag", 1)
	return execOne(ctx, s.pool, "delete tag limit", `DELETE FROM concurrency_limit WHERE `+where, arg)
}

// TagConcurrencyLimitSetSlots implements storage.Store.
func (s *Store) TagConcurrencyLimitSetSlots(ctx context.Context, tag string, slots []uuid.UUID, now time.Time) error {
	return execOne(ctx, s.pool, "set tag slots", `UPDATE concurrency_limit SET active_slots = $1::jsonb, updated = $2 WHERE tag = $3`,
		storage.JSONList(storage.UUIDStrings(slots)), storage.DBTime(now), tag)
}

// changeTagSlots applies change to the locked slots of a tag limit.
func (s *Store) changeTagSlots(ctx context.Context, tag string, now time.Time, change func(l *apitype.ConcurrencyLimit) ([]uuid.UUID, bool)) (bool, error) {
	var ok bool
	err := s.write(ctx, func(tx pgx.Tx) error {
		l, err := scanTagLimit(tx.QueryRow(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE tag = $1 FOR UPDATE`, tag))
		if err != nil {
			return fmt.Errorf("get tag limit: %w", err)
		}
		slots, changed := change(l)
		ok = changed
		if !changed {
			return nil
		}
		return execOne(ctx, tx, "set tag slots", `UPDATE concurrency_limit SET active_slots = $1::jsonb, updated = $2 WHERE id = $3`,
			storage.JSONList(storage.UUIDStrings(slots)), storage.DBTime(now), l.ID)
	})
	return ok, err
}

// TagConcurrencyLimitAddSlot implements storage.Store.
func (s *Store) TagConcurrencyLimitAddSlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) (bool, error) {
	held := false
	added, err := s.changeTagSlots(ctx, tag, now, func(l *apitype.ConcurrencyLimit) ([]uuid.UUID, bool) {
		if slices.Contains(l.ActiveSlots, taskRunID) {
			held = true
			return nil, false
		}
		if len(l.ActiveSlots) >= l.ConcurrencyLimit {
			return nil, false
		}
		return append(l.ActiveSlots, taskRunID), true
	})
	return added || held, err
}

// TagConcurrencyLimitRemoveSlot implements storage.Store.
func (s *Store) TagConcurrencyLimitRemoveSlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) (bool, error) {
	return s.changeTagSlots(ctx, tag, now, func(l *apitype.ConcurrencyLimit) ([]uuid.UUID, bool) {
		i := slices.Index(l.ActiveSlots, taskRunID)
		if i < 0 {
			return nil, false
		}
		return slices.Delete(l.ActiveSlots, i, i+1), true
	})
}
