package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// v1 tag concurrency limits: active_slots is a JSON list of task run ids.

const tagLimitColumns = `id, created, updated, tag, concurrency_limit, active_slots`

func scanTagLimit(r rowScanner) (*apitype.ConcurrencyLimit, error) {
	var (
		l                           apitype.ConcurrencyLimit
		id, created, updated, slots string
	)
	if err := r.Scan(&id, &created, &updated, &l.Tag, &l.ConcurrencyLimit, &slots); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if l.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode concurrency limit id: %w", err)
	}
	if l.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if l.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	if l.ActiveSlots, err = storage.DecodeSlotList(slots); err != nil {
		return nil, err
	}
	return &l, nil
}

func queryTagLimits(ctx context.Context, q queryer, where, tail string, args ...any) ([]apitype.ConcurrencyLimit, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE `+where+` `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("select tag limits: %w", err)
	}
	defer rows.Close()
	out := []apitype.ConcurrencyLimit{}
	for rows.Next() {
		l, err := scanTagLimit(rows)
		if err != nil {
			return nil, fmt.Errorf("select tag limits: %w", err)
		}
		out = append(out, *l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select tag limits: %w", err)
	}
	return out, nil
}

// TagConcurrencyLimitCreate implements storage.Store.
func (s *Store) TagConcurrencyLimitCreate(ctx context.Context, p *storage.TagConcurrencyLimitCreateParams) (*apitype.ConcurrencyLimit, error) {
	var out *apitype.ConcurrencyLimit
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := encodeTime(p.Now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO concurrency_limit (`+tagLimitColumns+`) VALUES (?, ?, ?, ?, ?, '[]')`,
			p.ID.String(), now, now, p.Tag, p.Limit); err != nil {
			return fmt.Errorf("insert tag limit: %w", interpretError(err))
		}
		var err error
		out, err = scanTagLimit(tx.QueryRowContext(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE id = ?`, p.ID.String()))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TagConcurrencyLimitGet implements storage.Store.
func (s *Store) TagConcurrencyLimitGet(ctx context.Context, key storage.LimitKey) (*apitype.ConcurrencyLimit, error) {
	where, arg := limitKeyWhere(key, "tag")
	l, err := scanTagLimit(s.reader.QueryRowContext(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE `+where, arg))
	if err != nil {
		return nil, fmt.Errorf("get tag limit: %w", err)
	}
	return l, nil
}

// TagConcurrencyLimitList implements storage.Store.
func (s *Store) TagConcurrencyLimitList(ctx context.Context, limit, offset int) ([]apitype.ConcurrencyLimit, error) {
	if limit <= 0 {
		limit = -1
	}
	return queryTagLimits(ctx, s.reader, `1=1`, `ORDER BY tag LIMIT ? OFFSET ?`, limit, max(offset, 0))
}

// TagConcurrencyLimitsByTags implements storage.Store.
func (s *Store) TagConcurrencyLimitsByTags(ctx context.Context, tags []string) ([]apitype.ConcurrencyLimit, error) {
	return queryTagLimits(ctx, s.reader, `tag IN (SELECT value FROM json_each(?))`, `ORDER BY tag`, storage.JSONList(tags))
}

// TagConcurrencyLimitDelete implements storage.Store.
func (s *Store) TagConcurrencyLimitDelete(ctx context.Context, key storage.LimitKey) error {
	where, arg := limitKeyWhere(key, "tag")
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "delete tag limit", `DELETE FROM concurrency_limit WHERE `+where, arg)
	})
}

// TagConcurrencyLimitSetSlots implements storage.Store.
func (s *Store) TagConcurrencyLimitSetSlots(ctx context.Context, tag string, slots []uuid.UUID, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return setTagSlots(ctx, tx, tag, slots, now)
	})
}

func setTagSlots(ctx context.Context, tx *sql.Tx, tag string, slots []uuid.UUID, now time.Time) error {
	b, err := json.Marshal(storage.UUIDStrings(slots))
	if err != nil {
		return fmt.Errorf("encode slots: %w", err)
	}
	return execOne(ctx, tx, "set tag slots", `UPDATE concurrency_limit SET active_slots = ?, updated = ? WHERE tag = ?`,
		string(b), encodeTime(now), tag)
}

// changeTagSlots applies change to the slots of a tag limit inside one write.
func (s *Store) changeTagSlots(ctx context.Context, tag string, now time.Time, change func(l *apitype.ConcurrencyLimit) ([]uuid.UUID, bool)) (bool, error) {
	var ok bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		l, err := scanTagLimit(tx.QueryRowContext(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE tag = ?`, tag))
		if err != nil {
			return fmt.Errorf("get tag limit: %w", err)
		}
		slots, changed := change(l)
		ok = changed
		if !changed {
			return nil
		}
		return setTagSlots(ctx, tx, tag, slots, now)
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
