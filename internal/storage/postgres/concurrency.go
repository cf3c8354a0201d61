package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Concurrency limits v2. Slot changes lock the limit rows FOR UPDATE in id
// order, so concurrent increments over overlapping names queue instead of
// deadlocking, and a lease release always sees the slots its increment took.

const limitV2Columns = `id, created, updated, active, name, "limit", active_slots, denied_slots, slot_decay_per_second, avg_slot_occupancy_seconds`

// rowsQuerier is what both the pool and a transaction offer.
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func scanLimitV2(r pgx.Row) (*apitype.ConcurrencyLimitV2, error) {
	var l apitype.ConcurrencyLimitV2
	if err := r.Scan(&l.ID, &l.Created, &l.Updated, &l.Active, &l.Name, &l.Limit, &l.ActiveSlots,
		&l.DeniedSlots, &l.SlotDecayPerSecond, &l.AvgSlotOccupancySeconds); err != nil {
		return nil, interpretError(err)
	}
	l.Created, l.Updated = l.Created.UTC(), l.Updated.UTC()
	return &l, nil
}

// queryLimitsV2 selects limits; where and tail are constant SQL.
func queryLimitsV2(ctx context.Context, q rowsQuerier, where, tail string, args ...any) ([]apitype.ConcurrencyLimitV2, error) {
	rows, err := q.Query(ctx, `SELECT `+limitV2Columns+` FROM concurrency_limit_v2 WHERE `+where+` `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("select concurrency limits: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.ConcurrencyLimitV2, error) {
		l, err := scanLimitV2(r)
		if err != nil {
			return apitype.ConcurrencyLimitV2{}, err
		}
		return *l, nil
	})
	if err != nil {
		return nil, fmt.Errorf("select concurrency limits: %w", err)
	}
	if out == nil {
		out = []apitype.ConcurrencyLimitV2{}
	}
	return out, nil
}

// limitKeyWhere renders the key's predicate with placeholder $n.
func limitKeyWhere(key storage.LimitKey, nameCol string, n int) (string, any) {
	if key.ID != uuid.Nil {
		return fmt.Sprintf(`id = $%d`, n), key.ID
	}
	return fmt.Sprintf(`%s = $%d`, nameCol, n), key.Name
}

func nonNil(values []string) []string {
	if values == nil {
		return []string{}
	}
	return values
}

// ConcurrencyLimitV2Create implements storage.Store.
func (s *Store) ConcurrencyLimitV2Create(ctx context.Context, p *storage.ConcurrencyLimitV2CreateParams) (*apitype.ConcurrencyLimitV2, error) {
	l, err := scanLimitV2(s.pool.QueryRow(ctx, `INSERT INTO concurrency_limit_v2 (`+limitV2Columns+`)
		VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, 2.0) RETURNING `+limitV2Columns,
		p.ID, storage.DBTime(p.Now), p.Active, p.Name, p.Limit, p.ActiveSlots, p.DeniedSlots, p.SlotDecayPerSecond))
	if err != nil {
		return nil, fmt.Errorf("insert concurrency limit: %w", err)
	}
	return l, nil
}

// ConcurrencyLimitV2Get implements storage.Store.
func (s *Store) ConcurrencyLimitV2Get(ctx context.Context, key storage.LimitKey, now time.Time) (*apitype.ConcurrencyLimitV2, error) {
	where, arg := limitKeyWhere(key, "name", 1)
	l, err := scanLimitV2(s.pool.QueryRow(ctx, `SELECT `+limitV2Columns+` FROM concurrency_limit_v2 WHERE `+where, arg))
	if err != nil {
		return nil, fmt.Errorf("get concurrency limit: %w", err)
	}
	l.ActiveSlots = storage.DecayedActiveSlots(l, now)
	return l, nil
}

// ConcurrencyLimitV2List implements storage.Store.
func (s *Store) ConcurrencyLimitV2List(ctx context.Context, p *storage.ConcurrencyLimitV2ListParams) ([]apitype.ConcurrencyLimitV2, error) {
	var limit *int
	if p.Limit > 0 {
		limit = &p.Limit
	}
	where, args := `$1::text[] IS NULL`, []any{nil}
	if p.Names != nil {
		where, args = `name = ANY($1::text[])`, []any{p.Names}
	}
	rows, err := queryLimitsV2(ctx, s.pool, where, `ORDER BY name LIMIT $2 OFFSET $3`, append(args, limit, max(p.Offset, 0))...)
	if err != nil {
		return nil, err
	}
	return storage.DecayRows(rows, p.Now), nil
}

// ConcurrencyLimitV2Update implements storage.Store.
func (s *Store) ConcurrencyLimitV2Update(ctx context.Context, key storage.LimitKey, u *apitype.ConcurrencyLimitV2Update, now time.Time) error {
	sets := []string{"updated = $1"}
	args := []any{storage.DBTime(now)}
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
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
	where, arg := limitKeyWhere(key, "name", len(args)+1)
	return execOne(ctx, s.pool, "update concurrency limit",
		`UPDATE concurrency_limit_v2 SET `+strings.Join(sets, ", ")+` WHERE `+where, append(args, arg)...)
}

// ConcurrencyLimitV2Delete implements storage.Store.
func (s *Store) ConcurrencyLimitV2Delete(ctx context.Context, key storage.LimitKey, revokeLeases bool) error {
	where, arg := limitKeyWhere(key, "name", 1)
	return s.write(ctx, func(tx pgx.Tx) error {
		var id uuid.UUID
		if err := tx.QueryRow(ctx, `DELETE FROM concurrency_limit_v2 WHERE `+where+` RETURNING id`, arg).Scan(&id); err != nil {
			return fmt.Errorf("delete concurrency limit: %w", interpretError(err))
		}
		if revokeLeases {
			if _, err := tx.Exec(ctx, `DELETE FROM concurrency_lease WHERE `+leaseCovers(1), leaseCoversArg(id)); err != nil {
				return fmt.Errorf("revoke concurrency leases: %w", err)
			}
		}
		return nil
	})
}

// writeLimitSlots stores the slot columns of planned rows.
func writeLimitSlots(ctx context.Context, tx pgx.Tx, rows []apitype.ConcurrencyLimitV2) error {
	for _, r := range rows {
		if _, err := tx.Exec(ctx, `UPDATE concurrency_limit_v2 SET active_slots = $1, denied_slots = $2,
			avg_slot_occupancy_seconds = $3, updated = $4 WHERE id = $5`,
			r.ActiveSlots, r.DeniedSlots, r.AvgSlotOccupancySeconds, storage.DBTime(r.Updated), r.ID); err != nil {
			return fmt.Errorf("update concurrency slots: %w", err)
		}
	}
	return nil
}

// lockLimitsByName locks the named limits in id order.
func lockLimitsByName(ctx context.Context, tx pgx.Tx, names []string) ([]apitype.ConcurrencyLimitV2, error) {
	return queryLimitsV2(ctx, tx, `name = ANY($1::text[])`, `ORDER BY id FOR UPDATE`, nonNil(names))
}

// ConcurrencySlotsIncrement implements storage.Store.
func (s *Store) ConcurrencySlotsIncrement(ctx context.Context, p *storage.ConcurrencyIncrementParams) (*storage.ConcurrencyIncrementResult, error) {
	var res storage.ConcurrencyIncrementResult
	err := s.write(ctx, func(tx pgx.Tx) error {
		rows, err := lockLimitsByName(ctx, tx, p.Names)
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		rows, err := lockLimitsByName(ctx, tx, p.Names)
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
func decrementLimitIDs(ctx context.Context, tx pgx.Tx, ids []uuid.UUID, slots int, occupancy float64, now time.Time, w storage.ConcurrencyWaits) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := queryLimitsV2(ctx, tx, `id = ANY($1::uuid[])`, `ORDER BY id FOR UPDATE`, storage.UUIDStrings(ids))
	if err != nil {
		return err
	}
	return writeLimitSlots(ctx, tx, storage.PlanDecrement(rows, slots, occupancy, now, w))
}
