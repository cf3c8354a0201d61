package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Concurrency limits v2. Every write runs on the single writer connection,
// which serialises them: reading the rows inside the write transaction is
// as good as locking them.

const limitV2Columns = `id, created, updated, active, name, "limit", active_slots, denied_slots, slot_decay_per_second, avg_slot_occupancy_seconds`

func scanLimitV2(r rowScanner) (*apitype.ConcurrencyLimitV2, error) {
	var (
		l                    apitype.ConcurrencyLimitV2
		id, created, updated string
	)
	if err := r.Scan(&id, &created, &updated, &l.Active, &l.Name, &l.Limit, &l.ActiveSlots,
		&l.DeniedSlots, &l.SlotDecayPerSecond, &l.AvgSlotOccupancySeconds); err != nil {
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
	return &l, nil
}

// queryLimitsV2 selects limits; where and tail are constant SQL.
func queryLimitsV2(ctx context.Context, q queryer, where, tail string, args ...any) ([]apitype.ConcurrencyLimitV2, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+limitV2Columns+` FROM concurrency_limit_v2 WHERE `+where+` `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("select concurrency limits: %w", err)
	}
	defer rows.Close()
	out := []apitype.ConcurrencyLimitV2{}
	for rows.Next() {
		l, err := scanLimitV2(rows)
		if err != nil {
			return nil, fmt.Errorf("select concurrency limits: %w", err)
		}
		out = append(out, *l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select concurrency limits: %w", err)
	}
	return out, nil
}

func limitKeyWhere(key storage.LimitKey, nameCol string) (string, any) {
	if key.ID != uuid.Nil {
		return `id = ?`, key.ID.String()
	}
	return nameCol + ` = ?`, key.Name
}

const inNames = `name IN (SELECT value FROM json_each(?))`

// ConcurrencyLimitV2Create implements storage.Store.
func (s *Store) ConcurrencyLimitV2Create(ctx context.Context, p *storage.ConcurrencyLimitV2CreateParams) (*apitype.ConcurrencyLimitV2, error) {
	var out *apitype.ConcurrencyLimitV2
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := encodeTime(p.Now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO concurrency_limit_v2 (`+limitV2Columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 2.0)`,
			p.ID.String(), now, now, p.Active, p.Name, p.Limit, p.ActiveSlots, p.DeniedSlots, p.SlotDecayPerSecond); err != nil {
			return fmt.Errorf("insert concurrency limit: %w", interpretError(err))
		}
		var err error
		out, err = scanLimitV2(tx.QueryRowContext(ctx, `SELECT `+limitV2Columns+` FROM concurrency_limit_v2 WHERE id = ?`, p.ID.String()))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConcurrencyLimitV2Get implements storage.Store.
func (s *Store) ConcurrencyLimitV2Get(ctx context.Context, key storage.LimitKey, now time.Time) (*apitype.ConcurrencyLimitV2, error) {
	where, arg := limitKeyWhere(key, "name")
	l, err := scanLimitV2(s.reader.QueryRowContext(ctx, `SELECT `+limitV2Columns+` FROM concurrency_limit_v2 WHERE `+where, arg))
	if err != nil {
		return nil, fmt.Errorf("get concurrency limit: %w", err)
	}
	l.ActiveSlots = storage.DecayedActiveSlots(l, now)
	return l, nil
}

// ConcurrencyLimitV2List implements storage.Store.
func (s *Store) ConcurrencyLimitV2List(ctx context.Context, p *storage.ConcurrencyLimitV2ListParams) ([]apitype.ConcurrencyLimitV2, error) {
	where, args := "1=1", []any{}
	if p.Names != nil {
		where, args = inNames, append(args, storage.JSONList(p.Names))
	}
	limit := p.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := queryLimitsV2(ctx, s.reader, where, `ORDER BY name LIMIT ? OFFSET ?`, append(args, limit, max(p.Offset, 0))...)
	if err != nil {
		return nil, err
	}
	return storage.DecayRows(rows, p.Now), nil
}

// ConcurrencyLimitV2Update implements storage.Store.
func (s *Store) ConcurrencyLimitV2Update(ctx context.Context, key storage.LimitKey, u *apitype.ConcurrencyLimitV2Update, now time.Time) error {
	sets := []string{"updated = ?"}
	args := []any{encodeTime(now)}
	add := func(col string, v any) {
		sets = append(sets, col+" = ?")
		args = append(args, v)
	}
	if u.Active != nil {
		add("active", *u.Active)
	}
	if u.Name != nil {
		add("name", *u.Name)
	}
	if u.Limit != nil {
		add(`"limit"`, *u.Limit)
	}
	if u.ActiveSlots != nil {
		add("active_slots", *u.ActiveSlots)
	}
	if u.DeniedSlots != nil {
		add("denied_slots", *u.DeniedSlots)
	}
	if u.SlotDecayPerSecond != nil {
		add("slot_decay_per_second", *u.SlotDecayPerSecond)
	}
	where, arg := limitKeyWhere(key, "name")
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "update concurrency limit",
			`UPDATE concurrency_limit_v2 SET `+strings.Join(sets, ", ")+` WHERE `+where, append(args, arg)...)
	})
}

// ConcurrencyLimitV2Delete implements storage.Store.
func (s *Store) ConcurrencyLimitV2Delete(ctx context.Context, key storage.LimitKey, revokeLeases bool) error {
	where, arg := limitKeyWhere(key, "name")
	return s.write(ctx, func(tx *sql.Tx) error {
		l, err := scanLimitV2(tx.QueryRowContext(ctx, `SELECT `+limitV2Columns+` FROM concurrency_limit_v2 WHERE `+where, arg))
		if err != nil {
			return fmt.Errorf("delete concurrency limit: %w", err)
		}
		if revokeLeases {
			if _, err := tx.ExecContext(ctx, `DELETE FROM concurrency_lease WHERE `+leaseCovers, l.ID.String()); err != nil {
				return fmt.Errorf("revoke concurrency leases: %w", err)
			}
		}
		return execOne(ctx, tx, "delete concurrency limit", `DELETE FROM concurrency_limit_v2 WHERE id = ?`, l.ID.String())
	})
}

// writeLimitSlots stores the slot columns of planned rows.
func writeLimitSlots(ctx context.Context, tx *sql.Tx, rows []apitype.ConcurrencyLimitV2) error {
	for _, r := range rows {
		if _, err := tx.ExecContext(ctx, `UPDATE concurrency_limit_v2 SET active_slots = ?, denied_slots = ?,
			avg_slot_occupancy_seconds = ?, updated = ? WHERE id = ?`,
			r.ActiveSlots, r.DeniedSlots, r.AvgSlotOccupancySeconds, encodeTime(r.Updated), r.ID.String()); err != nil {
			return fmt.Errorf("update concurrency slots: %w", err)
		}
	}
	return nil
}

// ConcurrencySlotsIncrement implements storage.Store.
func (s *Store) ConcurrencySlotsIncrement(ctx context.Context, p *storage.ConcurrencyIncrementParams) (*storage.ConcurrencyIncrementResult, error) {
	var res storage.ConcurrencyIncrementResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := queryLimitsV2(ctx, tx, inNames, `ORDER BY id`, storage.JSONList(p.Names))
		if err != nil {
			return err
		}
		res.Limits = rows
		writes, granted, err := storage.PlanIncrement(append([]apitype.ConcurrencyLimitV2(nil), rows...), p)
		if err != nil {
			return err
		}
		res.Acquired = granted
		if err := writeLimitSlots(ctx, tx, writes); err != nil {
			return err
		}
		if granted && p.Lease != nil && len(writes) > 0 {
			ids := make([]uuid.UUID, len(writes))
			for i, w := range writes {
				ids[i] = w.ID
			}
			res.LeaseCreated = true
			return insertLease(ctx, tx, &apitype.ConcurrencyLease{
				ID: p.Lease.ID, ResourceIDs: ids, Slots: p.Slots, Holder: p.Lease.Holder,
				Expiration: p.Lease.Expiration, Created: p.Now,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// ConcurrencySlotsDecrement implements storage.Store.
func (s *Store) ConcurrencySlotsDecrement(ctx context.Context, p *storage.ConcurrencyDecrementParams) ([]apitype.ConcurrencyLimitV2, error) {
	var found []apitype.ConcurrencyLimitV2
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := queryLimitsV2(ctx, tx, inNames, `ORDER BY id`, storage.JSONList(p.Names))
		if err != nil {
			return err
		}
		found = rows
		return writeLimitSlots(ctx, tx, storage.PlanDecrement(append([]apitype.ConcurrencyLimitV2(nil), rows...),
			p.Slots, p.OccupancySeconds, p.Now, p.Waits))
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// decrementLimitIDs frees slots on the limits with these ids, inside tx.
func decrementLimitIDs(ctx context.Context, tx *sql.Tx, ids []uuid.UUID, slots int, occupancy float64, now time.Time, w storage.ConcurrencyWaits) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := queryLimitsV2(ctx, tx, `id IN (SELECT value FROM json_each(?))`, `ORDER BY id`,
		storage.JSONList(storage.UUIDStrings(ids)))
	if err != nil {
		return err
	}
	return writeLimitSlots(ctx, tx, storage.PlanDecrement(rows, slots, occupancy, now, w))
}
