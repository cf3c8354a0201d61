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

// Event-filter fragments (storage.EventDialect). LIKE is case-sensitive here,
// like Prefect's matching.

func (dialect) Time(t time.Time) any { return storage.DBTime(t) }

// globToLike turns a label pattern (* and ? wildcards) into a LIKE pattern
// whose escape character is '\'.
var globToLike = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`, `?`, `_`)

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (dialect) Glob(w *storage.Where, col, pattern string) string {
	return "(" + col + " LIKE " + w.Bind(globToLike.Replace(pattern)) + ` ESCAPE '\')`
}

func (dialect) HasPrefix(w *storage.Where, col, prefix string) string {
	return "(" + col + " LIKE " + w.Bind(likeEscaper.Replace(prefix)+"%") + ` ESCAPE '\')`
}

func (dialect) Label(w *storage.Where, col, label string) string {
	return "(" + col + " ->> " + w.Bind(label) + "::text)"
}

func (dialect) SearchText() string {
	return "lower(event || ' ' || resource::text || ' ' || related::text || ' ' || payload::text)"
}

func (dialect) Epoch(col string) string { return "extract(epoch FROM " + col + ")::float8" }

// EventInsert implements storage.EventStore.
func (s *Store) EventInsert(ctx context.Context, events []apitype.ReceivedEvent, now time.Time) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	rows := make([]storage.EventRow, 0, len(events))
	for i := range events {
		r, err := storage.NewEventRow(&events[i])
		if err != nil {
			return 0, err
		}
		rows = append(rows, r)
	}
	rec := storage.DBTime(now)
	inserted := 0
	// Two round trips per batch: every event insert, then the resource rows
	// of the events that were new.
	err := s.write(ctx, func(tx pgx.Tx) error {
		events := &pgx.Batch{}
		for _, r := range rows {
			e := r.Event
			events.Queue(`INSERT INTO events (id, created, updated, occurred, event, resource_id,
				resource, related_resource_ids, related, payload, received, recorded, follows)
				VALUES ($1, $2, $2, $3, $4, $5, $6::json, $7::jsonb, $8::json, $9::json, $10, $2, $11)
				ON CONFLICT (id) DO NOTHING`,
				e.ID, rec, storage.DBTime(e.Occurred), e.Event.Event, e.Resource.ID(), r.Resource,
				r.RelatedIDs, r.Related, r.Payload, storage.DBTime(e.Received), e.Follows)
		}
		res := tx.SendBatch(ctx, events)
		resources := &pgx.Batch{}
		for _, r := range rows {
			tag, err := res.Exec()
			if err != nil {
				res.Close()
				return fmt.Errorf("insert event: %w", interpretError(err))
			}
			if tag.RowsAffected() == 0 {
				continue // already stored (or repeated in this batch): its resources are too
			}
			inserted++
			for _, er := range r.Resources {
				resources.Queue(`INSERT INTO event_resources (id, created, updated, occurred, resource_id,
					resource_role, resource, event_id) VALUES ($1, $2, $2, $3, $4, $5, $6::jsonb, $7)`,
					uuid.New(), rec, storage.DBTime(r.Event.Occurred), er.ID, er.Role, er.Labels, r.Event.ID)
			}
		}
		if err := res.Close(); err != nil {
			return fmt.Errorf("insert events: %w", interpretError(err))
		}
		if resources.Len() == 0 {
			return nil
		}
		if err := tx.SendBatch(ctx, resources).Close(); err != nil {
			return fmt.Errorf("insert event resources: %w", interpretError(err))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return inserted, nil
}

// EventList implements storage.EventStore.
func (s *Store) EventList(ctx context.Context, p *storage.EventListParams) ([]apitype.ReceivedEvent, error) {
	w := storage.NewWhere(dialect{})
	q, err := w.EventListQuery(p.Filter)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, q+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	out := []apitype.ReceivedEvent{}
	for rows.Next() {
		var (
			e                          apitype.ReceivedEvent
			resource, related, payload string
		)
		if err := rows.Scan(&e.ID, &e.Occurred, &e.Event.Event, &resource, &related, &payload, &e.Received, &e.Follows); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.Occurred, e.Received = e.Occurred.UTC(), e.Received.UTC()
		if err := storage.DecodeEventJSON(&e, resource, related, payload); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// EventCount implements storage.EventStore.
func (s *Store) EventCount(ctx context.Context, f *apitype.EventFilter) (int64, error) {
	w := storage.NewWhere(dialect{})
	q, err := w.EventCountQuery(f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, q, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// EventCountBy implements storage.EventStore.
func (s *Store) EventCountBy(ctx context.Context, p *storage.EventCountByParams) ([]apitype.EventCount, error) {
	w := storage.NewWhere(dialect{})
	q, err := w.EventCountByQuery(p)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, q, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	out := []apitype.EventCount{}
	for rows.Next() {
		var c apitype.EventCount
		if err := rows.Scan(&c.Value, &c.Label, &c.Count, &c.StartTime, &c.EndTime); err != nil {
			return nil, fmt.Errorf("count events: %w", err)
		}
		c.StartTime, c.EndTime = c.StartTime.UTC(), c.EndTime.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	return out, nil
}
