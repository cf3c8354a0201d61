package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const leaseColumns = `id, created, expiration, resource_ids, slots, holder_type, holder_id`

// leaseCovers matches leases whose resource_ids hold the bound limit id.
const leaseCovers = `EXISTS (SELECT 1 FROM json_each(concurrency_lease.resource_ids) WHERE value = ?)`

func scanLease(r rowScanner) (*apitype.ConcurrencyLease, error) {
	var (
		l                           apitype.ConcurrencyLease
		id, created, expiration, rs string
		holderType, holderID        sql.NullString
	)
	if err := r.Scan(&id, &created, &expiration, &rs, &l.Slots, &holderType, &holderID); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if l.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode lease id: %w", err)
	}
	if l.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if l.Expiration, err = decodeTime(expiration); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(rs), &l.ResourceIDs); err != nil {
		return nil, fmt.Errorf("decode lease resource ids: %w", err)
	}
	if l.ResourceIDs == nil {
		l.ResourceIDs = []uuid.UUID{}
	}
	if holderType.Valid && holderID.Valid {
		hid, err := uuid.Parse(holderID.String)
		if err != nil {
			return nil, fmt.Errorf("decode lease holder id: %w", err)
		}
		l.Holder = &apitype.ConcurrencyLeaseHolder{Type: holderType.String, ID: hid}
	}
	return &l, nil
}

func queryLeases(ctx context.Context, q queryer, where, tail string, args ...any) ([]apitype.ConcurrencyLease, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+leaseColumns+` FROM concurrency_lease WHERE `+where+` `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("select leases: %w", err)
	}
	defer rows.Close()
	out := []apitype.ConcurrencyLease{}
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, fmt.Errorf("select leases: %w", err)
		}
		out = append(out, *l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select leases: %w", err)
	}
	return out, nil
}

func insertLease(ctx context.Context, tx *sql.Tx, l *apitype.ConcurrencyLease) error {
	var holderType, holderID sql.NullString
	if l.Holder != nil {
		holderType = sql.NullString{String: l.Holder.Type, Valid: true}
		holderID = sql.NullString{String: l.Holder.ID.String(), Valid: true}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO concurrency_lease (`+leaseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		l.ID.String(), encodeTime(l.Created), encodeTime(l.Expiration), storage.JSONList(storage.UUIDStrings(l.ResourceIDs)),
		l.Slots, holderType, holderID); err != nil {
		return fmt.Errorf("insert lease: %w", interpretError(err))
	}
	return nil
}

// releaseLease deletes the lease and frees its slots inside tx. The DELETE
// decides who releases: a lease already deleted is ErrNotFound.
func releaseLease(ctx context.Context, tx *sql.Tx, id uuid.UUID, p storage.ConcurrencyReleaseParams) (*apitype.ConcurrencyLease, error) {
	l, err := scanLease(tx.QueryRowContext(ctx, `DELETE FROM concurrency_lease WHERE id = ? RETURNING `+leaseColumns, id.String()))
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

// ConcurrencyLeaseGet implements storage.Store.
func (s *Store) ConcurrencyLeaseGet(ctx context.Context, id uuid.UUID) (*apitype.ConcurrencyLease, error) {
	l, err := scanLease(s.reader.QueryRowContext(ctx, `SELECT `+leaseColumns+` FROM concurrency_lease WHERE id = ?`, id.String()))
	if err != nil {
		return nil, fmt.Errorf("get lease: %w", err)
	}
	return l, nil
}

// ConcurrencyLeaseRenew implements storage.Store.
func (s *Store) ConcurrencyLeaseRenew(ctx context.Context, id uuid.UUID, expiration, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "renew lease", `UPDATE concurrency_lease SET expiration = ? WHERE id = ? AND expiration > ?`,
			encodeTime(expiration), id.String(), encodeTime(now))
	})
}

// ConcurrencyLeaseRelease implements storage.Store.
func (s *Store) ConcurrencyLeaseRelease(ctx context.Context, id uuid.UUID, p storage.ConcurrencyReleaseParams) (*apitype.ConcurrencyLease, error) {
	var out *apitype.ConcurrencyLease
	err := s.write(ctx, func(tx *sql.Tx) error {
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		leases, err := queryLeases(ctx, tx, `holder_type = ? AND holder_id = ? AND EXISTS (SELECT 1 FROM json_each(concurrency_lease.resource_ids) AS r
			WHERE r.value IN (SELECT value FROM json_each(?)))`, `ORDER BY id`,
			holder.Type, holder.ID.String(), storage.JSONList(storage.UUIDStrings(limitIDs)))
		if err != nil {
			return err
		}
		for _, l := range leases {
			if _, err := releaseLease(ctx, tx, l.ID, p); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// ConcurrencyLeasesExpire implements storage.Store.
func (s *Store) ConcurrencyLeasesExpire(ctx context.Context, now time.Time, batch int, waits storage.ConcurrencyWaits) (int, error) {
	n := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		leases, err := queryLeases(ctx, tx, `expiration < ?`, `ORDER BY expiration, id LIMIT ?`, encodeTime(now), max(batch, 1))
		if err != nil {
			return err
		}
		for _, l := range leases {
			_, err := releaseLease(ctx, tx, l.ID, storage.ConcurrencyReleaseParams{RecordOccupancy: true, Waits: waits, Now: now})
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// ConcurrencyLeaseHolders implements storage.Store.
func (s *Store) ConcurrencyLeaseHolders(ctx context.Context, limitID uuid.UUID, now time.Time) ([]apitype.ConcurrencyLease, error) {
	return queryLeases(ctx, s.reader, `expiration > ? AND holder_id IS NOT NULL AND `+leaseCovers, `ORDER BY created, id`,
		encodeTime(now), limitID.String())
}

// ConcurrencyLimitV2ResetSlots implements storage.Store.
func (s *Store) ConcurrencyLimitV2ResetSlots(ctx context.Context, id uuid.UUID, holders []uuid.UUID, expiration, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM concurrency_lease WHERE `+leaseCovers, id.String()); err != nil {
			return fmt.Errorf("revoke leases: %w", err)
		}
		if err := execOne(ctx, tx, "reset concurrency slots", `UPDATE concurrency_limit_v2 SET active_slots = ?, updated = ? WHERE id = ?`,
			len(holders), encodeTime(now), id.String()); err != nil {
			return err
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
