package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// EventStore persists received events: one `events` row per event and one
// `event_resources` row per resource (primary and related), which the
// related/any_resource/labels criteria search.
type EventStore interface {
	// EventInsert writes a batch in one transaction. Events whose id is
	// already stored (or repeated in the batch) are skipped, so redelivery is
	// harmless; it returns how many were new. now stamps `recorded`.
	EventInsert(ctx context.Context, events []apitype.ReceivedEvent, now time.Time) (int, error)
	// EventList returns a page of matching events ordered by occurred (then
	// id) in the filter's order (DESC by default). Limit <= 0 means no limit.
	EventList(ctx context.Context, p *EventListParams) ([]apitype.ReceivedEvent, error)
	// EventCount counts matching events (distinct resources with
	// resource.distinct).
	EventCount(ctx context.Context, f *apitype.EventFilter) (int64, error)
	// EventCountBy groups matching events by p.Countable. For the time
	// countables each row's Value is the bucket number (counted in
	// p.BucketSeconds-wide buckets from EventCountPivot) and the caller lays
	// the buckets out; for event/resource rows are ordered by count DESC,
	// then label.
	EventCountBy(ctx context.Context, p *EventCountByParams) ([]apitype.EventCount, error)
}

// EventListParams selects a page of events.
type EventListParams struct {
	Filter *apitype.EventFilter
	Limit  int
	Offset int
}

// EventCountByParams selects a count-by query. Countable is "time", "event" or
// "resource" ("day" is "time" with one-day buckets: the caller translates).
type EventCountByParams struct {
	Filter        *apitype.EventFilter
	Countable     string
	BucketSeconds float64
}

// EventCountPivot is the origin of the time buckets: Prefect's pivot, the
// Monday before the earliest possible event.
var EventCountPivot = time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)

// EventRow is an event encoded for its events row and event_resources rows,
// shared by the engines so both store identical JSON text.
type EventRow struct {
	Event      *apitype.ReceivedEvent
	Resource   string // the primary resource's labels, JSON
	Related    string // the related resources, JSON list
	RelatedIDs string // their ids, JSON list
	Payload    string // JSON object
	Resources  []EventResourceRow
}

// EventResourceRow is one event_resources row: the primary resource (Role "")
// or a related one; Labels omits the id and role labels.
type EventResourceRow struct {
	ID, Role, Labels string
}

// NewEventRow encodes e.
func NewEventRow(e *apitype.ReceivedEvent) (EventRow, error) {
	resource := e.Resource
	if resource == nil {
		resource = apitype.Resource{}
	}
	related := e.Related
	if related == nil {
		related = []apitype.Resource{}
	}
	r := EventRow{Event: e, Payload: "{}"}
	if p := bytes.TrimSpace(e.Payload); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, p); err != nil {
			return EventRow{}, fmt.Errorf("encode event payload: %w", err)
		}
		r.Payload = buf.String()
	}
	b, err := json.Marshal(resource)
	if err != nil {
		return EventRow{}, fmt.Errorf("encode event resource: %w", err)
	}
	r.Resource = string(b)
	if b, err = json.Marshal(related); err != nil {
		return EventRow{}, fmt.Errorf("encode event related: %w", err)
	}
	r.Related = string(b)
	ids := make([]string, len(related))
	for i, rr := range related {
		ids[i] = rr.ID()
	}
	r.RelatedIDs = JSONList(ids)
	for i, res := range append([]apitype.Resource{resource}, related...) {
		labels := make(map[string]string, len(res))
		for k, v := range res {
			if k != apitype.LabelResourceID && k != apitype.LabelResourceRole {
				labels[k] = v
			}
		}
		b, err := json.Marshal(labels)
		if err != nil {
			return EventRow{}, fmt.Errorf("encode event resource: %w", err)
		}
		role := ""
		if i > 0 {
			role = res.Role()
		}
		r.Resources = append(r.Resources, EventResourceRow{ID: res.ID(), Role: role, Labels: string(b)})
	}
	return r, nil
}

// DecodeEventJSON fills the JSON parts of an event read back from a row.
func DecodeEventJSON(e *apitype.ReceivedEvent, resource, related, payload string) error {
	if err := json.Unmarshal([]byte(resource), &e.Resource); err != nil {
		return fmt.Errorf("decode event resource: %w", err)
	}
	if err := json.Unmarshal([]byte(related), &e.Related); err != nil {
		return fmt.Errorf("decode event related: %w", err)
	}
	if e.Related == nil {
		e.Related = []apitype.Resource{}
	}
	e.Payload = json.RawMessage(payload)
	return nil
}
