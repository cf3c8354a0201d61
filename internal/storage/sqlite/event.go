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

// Event-filter fragments (storage.EventDialect). GLOB is case-sensitive like
// Prefect's matching; SQLite's LIKE is not.

func (dialect) Time(t time.Time) any { return encodeTime(t) }

// globEscaper makes every GLOB metacharacter literal.
var globEscaper = strings.NewReplacer("*", "[*]", "?", "[?]", "[", "[[]")

func (dialect) Glob(w *storage.Where, col, pattern string) string {
	// Keep * and ?, make [ literal: label patterns have no character classes.
	return "(" + col + " GLOB " + w.Bind(strings.ReplaceAll(pattern, "[", "[[]")) + ")"
}

func (dialect) HasPrefix(w *storage.Where, col, prefix string) string {
	return "(" + col + " GLOB " + w.Bind(globEscaper.Replace(prefix)+"*") + ")"
}

func (dialect) Label(w *storage.Where, col, label string) string {
	return "(SELECT value FROM json_each(" + col + ") WHERE key = " + w.Bind(label) + ")"
}

func (dialect) SearchText() string {
	return "lower(event || ' ' || resource || ' ' || related || ' ' || payload)"
}

func (dialect) Epoch(col string) string { return "unixepoch(" + col + ", 'subsec')" }

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
	inserted := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		insEvent, err := tx.PrepareContext(ctx, `INSERT INTO events (id, created, updated, occurred, event,
			resource_id, resource, related_resource_ids, related, payload, received, recorded, follows)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		defer insEvent.Close()
		insResource, err := tx.PrepareContext(ctx, `INSERT INTO event_resources (id, created, updated, occurred,
			resource_id, resource_role, resource, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		defer insResource.Close()
		rec := encodeTime(now)
		for _, r := range rows {
			e := r.Event
			var follows sql.NullString
			if e.Follows != nil {
				follows = sql.NullString{String: e.Follows.String(), Valid: true}
			}
			occurred := encodeTime(e.Occurred)
			res, err := insEvent.ExecContext(ctx, e.ID.String(), rec, rec, occurred, e.Event.Event,
				e.Resource.ID(), r.Resource, r.RelatedIDs, r.Related, r.Payload, encodeTime(e.Received), rec, follows)
			if err != nil {
				return fmt.Errorf("insert event: %w", interpretError(err))
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("insert event: %w", err)
			} else if n == 0 {
				continue // already stored: its resources are too
			}
			inserted++
			for _, er := range r.Resources {
				if _, err := insResource.ExecContext(ctx, uuid.NewString(), rec, rec, occurred,
					er.ID, er.Role, er.Labels, e.ID.String()); err != nil {
					return fmt.Errorf("insert event resource: %w", interpretError(err))
				}
			}
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
	rows, err := s.reader.QueryContext(ctx, q+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	out := []apitype.ReceivedEvent{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

func scanEvent(r rowScanner) (*apitype.ReceivedEvent, error) {
	var (
		e                          apitype.ReceivedEvent
		id, occurred, received     string
		resource, related, payload string
		follows                    sql.NullString
	)
	if err := r.Scan(&id, &occurred, &e.Event.Event, &resource, &related, &payload, &received, &follows); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if e.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode event id: %w", err)
	}
	if e.Occurred, err = decodeTime(occurred); err != nil {
		return nil, err
	}
	if e.Received, err = decodeTime(received); err != nil {
		return nil, err
	}
	if follows.Valid {
		f, err := uuid.Parse(follows.String)
		if err != nil {
			return nil, fmt.Errorf("decode event follows: %w", err)
		}
		e.Follows = &f
	}
	if err := storage.DecodeEventJSON(&e, resource, related, payload); err != nil {
		return nil, err
	}
	return &e, nil
}

// EventCount implements storage.EventStore.
func (s *Store) EventCount(ctx context.Context, f *apitype.EventFilter) (int64, error) {
	w := storage.NewWhere(dialect{})
	q, err := w.EventCountQuery(f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.reader.QueryRowContext(ctx, q, w.Args...).Scan(&n); err != nil {
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
	rows, err := s.reader.QueryContext(ctx, q, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	out := []apitype.EventCount{}
	for rows.Next() {
		var (
			c          apitype.EventCount
			start, end string
		)
		if err := rows.Scan(&c.Value, &c.Label, &c.Count, &start, &end); err != nil {
			return nil, fmt.Errorf("count events: %w", err)
		}
		if c.StartTime, err = decodeTime(start); err != nil {
			return nil, err
		}
		if c.EndTime, err = decodeTime(end); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	return out, nil
}
