package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const leaseColumns = `id, created, expiration, resource_ids, slots, holder_type, holder_id`

// leaseCovers matches leases whose resource_ids hold the limit id bound at
// $n (as leaseCoversArg); jsonb containment uses the GIN index.
func leaseCovers(n int) string { return fmt.Sprintf(`resource_ids @> $%d::jsonb`, n) }

func leaseCoversArg(id uuid.UUID) string { return storage.JSONList([]string{id.String()}) }

func scanLease(r pgx.Row) (*apitype.ConcurrencyLease, error) {
	var (
		l          apitype.ConcurrencyLease
		rs         string
		holderType *string
		holderID   *uuid.UUID
	)
	if err := r.Scan(&l.ID, &l.Created, &l.Expiration, &rs, &l.Slots, &holderType, &holderID); err != nil {
		return nil, interpretError(err)
	}
	l.Created, l.Expiration = l.Created.UTC(), l.Expiration.UTC()
	if err := json.Unmarshal([]byte(rs), &l.ResourceIDs); err != nil {
		return nil, fmt.Errorf("decode lease resource ids: %w", err)
	}
	if l.ResourceIDs == nil {
		l.ResourceIDs = []uuid.UUID{}
	}
	if holderType != nil && holderID != nil {
		l.Holder = &apitype.ConcurrencyLeaseHolder{Type: *holderType, ID: *holderID}
	}
	return &l, nil
}

func queryLeases(ctx context.Context, q rowsQuerier, where, tail string, args ...any) ([]apitype.ConcurrencyLease, error) {
	rows, err := q.Query(ctx, `SELECT `+leaseColumns+` FROM concurrency_lease WHERE `+where+` `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("select leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.ConcurrencyLease, error) {
		l, err := scanLease(r)
		if err != nil {
			return apitype.ConcurrencyLease{}, err
		}
		return *l, nil
	})
	if err != nil {
		return nil, fmt.Errorf("select leases: %w", err)
	}
	if out == nil {
		out = []apitype.ConcurrencyLease{}
	}
	return out, nil
}

func insertLease(ctx context.Context, tx pgx.Tx, l *apitype.ConcurrencyLease) error {
	var holderType *string
	var holderID *uuid.UUID
	if l.Holder != nil {
		holderType, holderID = &l.Holder.Type, &l.Holder.ID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO concurrency_lease (`+leaseColumns+`) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
		l.ID, storage.DBTime(l.Created), storage.DBTime(l.Expiration), storage.JSONList(storage.UUIDStrings(l.ResourceIDs)),
		l.Slots, holderType, holderID); err != nil {
		return fmt.Errorf("insert lease: %w", interpretError(err))
	}
	return nil
}

// releaseLease deletes the lease and frees its slots inside tx. The DELETE
// decides who releases: a lease already deleted is ErrNotFound.
func releaseLease(ctx context.Context, tx pgx.Tx, id uuid.UUID, p storage.ConcurrencyReleaseParams) (*apitype.ConcurrencyLease, error) {
	l, err := scanLease(tx.QueryRow(ctx, `DELETE FROM concurrency_lease WHERE id = $1 RETURNING `+leaseColumns, id))
	if err != nil {
		return nil, fmt.Errorf("release lease: %w", err)
	}
	occupancy := 0.0
	if p.RecordOccupancy {
		occupancy = p.Now.Sub(l.Created).Seconds()
	}
	if err := decrementLimitIDs(ctx, tx, l.ResourceIDs, l.Slots, occupancy, p.Now, p.Waits); err != nil {
		return nil, err
	}
	return l, nil
}

// releaseLeases releases several leases in one transaction. It locks the
// union of their limits in id order first, so it cannot deadlock with an
// increment (which locks in the same order).
func releaseLeases(ctx context.Context, tx pgx.Tx, leases []apitype.ConcurrencyLease, p storage.ConcurrencyReleaseParams) (int, error) {
	seen := map[uuid.UUID]bool{}
	var ids []uuid.UUID
	for _, l := range leases {
		for _, id := range l.ResourceIDs {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if len(ids) > 0 {
		if _, err := queryLimitsV2(ctx, tx, `id = ANY($1::uuid[])`, `ORDER BY id FOR UPDATE`, storage.UUIDStrings(ids)); err != nil {
			return 0, err
		}
	}
	for _, l := range leases {
		if _, err := releaseLease(ctx, tx, l.ID, p); err != nil {
			return 0, err
		}
	}
	return len(leases), nil
}

// ConcurrencyLeaseGet implements storage.Store.
func (s *Store) ConcurrencyLeaseGet(ctx context.Context, id uuid.UUID) (*apitype.ConcurrencyLease, error) {
	l, err := scanLease(s.pool.QueryRow(ctx, `SELECT `+leaseColumns+` FROM concurrency_lease WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get lease: %w", err)
	}
	return l, nil
}

// ConcurrencyLeaseRenew implements storage.Store.
func (s *Store) ConcurrencyLeaseRenew(ctx context.Context, id uuid.UUID, expiration, now time.Time) error {
	return execOne(ctx, s.pool, "renew lease", `UPDATE concurrency_lease SET expiration = $1 WHERE id = $2 AND expiration > $3`,
		storage.DBTime(expiration), id, storage.DBTime(now))
}

// ConcurrencyLeaseRelease implements storage.Store.
func (s *Store) ConcurrencyLeaseRelease(ctx context.Context, id uuid.UUID, p storage.ConcurrencyReleaseParams) (*apitype.ConcurrencyLease, error) {
	var out *apitype.ConcurrencyLease
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = releaseLease(ctx, tx, id, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConcurrencyLeasesReleaseByHolder implements storage.Store.
func (s *Store) ConcurrencyLeasesReleaseByHolder(ctx context.Context, holder apitype.ConcurrencyLeaseHolder, limitIDs []uuid.UUID, p storage.ConcurrencyReleaseParams) (int, error) {
	n := 0
	err := s.write(ctx, func(tx pgx.Tx) error {
		leases, err := queryLeases(ctx, tx, `holder_type = $1 AND holder_id = $2 AND EXISTS (
			SELECT 1 FROM jsonb_array_elements_text(resource_ids) AS r(id) WHERE r.id = ANY($3::text[]))`,
			`ORDER BY id FOR UPDATE`, holder.Type, holder.ID, nonNil(storage.UUIDStrings(limitIDs)))
		if err != nil {
			return err
		}
		n, err = releaseLeases(ctx, tx, leases, p)
		return err
	})
	return n, err
}

// ConcurrencyLeasesExpire implements storage.Store. SKIP LOCKED lets
// replicas reclaim disjoint batches at the same time.
func (s *Store) ConcurrencyLeasesExpire(ctx context.Context, now time.Time, batch int, waits storage.ConcurrencyWaits) (int, error) {
	n := 0
	err := s.write(ctx, func(tx pgx.Tx) error {
		leases, err := queryLeases(ctx, tx, `expiration < $1`, `ORDER BY expiration, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
			storage.DBTime(now), max(batch, 1))
		if err != nil {
			return err
		}
		n, err = releaseLeases(ctx, tx, leases, storage.ConcurrencyReleaseParams{RecordOccupancy: true, Waits: waits, Now: now})
		return err
	})
	return n, err
}

// ConcurrencyLeaseHolders implements storage.Store.
func (s *Store) ConcurrencyLeaseHolders(ctx context.Context, limitID uuid.UUID, now time.Time) ([]apitype.ConcurrencyLease, error) {
	return queryLeases(ctx, s.pool, `expiration > $1 AND holder_id IS NOT NULL AND `+leaseCovers(2), `ORDER BY created, id`,
		storage.DBTime(now), leaseCoversArg(limitID))
}

// ConcurrencyLimitV2ResetSlots implements storage.Store.
func (s *Store) ConcurrencyLimitV2ResetSlots(ctx context.Context, id uuid.UUID, holders []uuid.UUID, expiration, now time.Time) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := execOne(ctx, tx, "reset concurrency slots", `UPDATE concurrency_limit_v2 SET active_slots = $1, updated = $2 WHERE id = $3`,
			len(holders), storage.DBTime(now), id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM concurrency_lease WHERE `+leaseCovers(1), leaseCoversArg(id)); err != nil {
			return fmt.Errorf("revoke leases: %w", err)
		}
		for _, h := range holders {
			if err := insertLease(ctx, tx, &apitype.ConcurrencyLease{
				ID: uuid.New(), ResourceIDs: []uuid.UUID{id}, Slots: 1, Expiration: expiration, Created: now,
				Holder: &apitype.ConcurrencyLeaseHolder{Type: apitype.LeaseHolderTaskRun, ID: h},
			}); err != nil {
				return err
			}
		}
		return nil
	})
}
