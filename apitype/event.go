package apitype

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Resource labels every event names: the id of the resource and, for related
// resources, its role in the event.
const (
	LabelResourceID   = "prefect.resource.id"
	LabelResourceRole = "prefect.resource.role"
	LabelResourceName = "prefect.resource.name"
)

// Resource is Prefect's Resource/RelatedResource: a flat map of string labels
// that must hold a non-empty "prefect.resource.id" (and, when related, a
// non-empty "prefect.resource.role").
type Resource map[string]string

// ID is the resource's prefect.resource.id label.
func (r Resource) ID() string { return r[LabelResourceID] }

// Role is the related resource's prefect.resource.role label ("" for the
// primary resource).
func (r Resource) Role() string { return r[LabelResourceRole] }

// Event is Prefect's client-side Event: what the SDK sends to POST /events and
// /events/in. Payload is kept as the raw JSON object the client sent.
type Event struct {
	Occurred time.Time       `json:"occurred"`
	Event    string          `json:"event"`
	Resource Resource        `json:"resource"`
	Related  []Resource      `json:"related"`
	Payload  json.RawMessage `json:"payload"`
	ID       uuid.UUID       `json:"id"`
	Follows  *uuid.UUID      `json:"follows"`
}

// ReceivedEvent is an Event stamped with the time the server received it: the
// form events are stored, streamed and returned in.
type ReceivedEvent struct {
	Event
	Received time.Time `json:"received"`
}

// MarshalJSON writes every field even when empty (related [] and payload {}),
// as pydantic does.
func (e ReceivedEvent) MarshalJSON() ([]byte, error) {
	type wire struct {
		Occurred time.Time       `json:"occurred"`
		Event    string          `json:"event"`
		Resource Resource        `json:"resource"`
		Related  []Resource      `json:"related"`
		Payload  json.RawMessage `json:"payload"`
		ID       uuid.UUID       `json:"id"`
		Follows  *uuid.UUID      `json:"follows"`
		Received time.Time       `json:"received"`
	}
	w := wire{e.Occurred, e.Event.Event, e.Resource, e.Related, e.Payload, e.ID, e.Follows, e.Received}
	if w.Resource == nil {
		w.Resource = Resource{}
	}
	if w.Related == nil {
		w.Related = []Resource{}
	}
	if len(bytes.TrimSpace(w.Payload)) == 0 || bytes.Equal(bytes.TrimSpace(w.Payload), []byte("null")) {
		w.Payload = json.RawMessage("{}")
	}
	return json.Marshal(w)
}

// EventPage is the body of POST /events/filter and GET /events/filter/next.
type EventPage struct {
	Events   []ReceivedEvent `json:"events"`
	Total    int64           `json:"total"`
	NextPage *string         `json:"next_page"`
}

// EventCount is one row of POST /events/count-by/{countable}.
type EventCount struct {
	Value     string    `json:"value"`
	Label     string    `json:"label"`
	Count     int64     `json:"count"`
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
}

// Countables of /events/count-by/{countable}.
const (
	CountableDay      = "day"
	CountableTime     = "time"
	CountableEvent    = "event"
	CountableResource = "resource"
)

// TimeUnits of a count-by-time request.
const (
	TimeUnitWeek   = "week"
	TimeUnitDay    = "day"
	TimeUnitHour   = "hour"
	TimeUnitMinute = "minute"
	TimeUnitSecond = "second"
)

// Event orders.
const (
	EventOrderAsc  = "ASC"
	EventOrderDesc = "DESC"
)

// EventFilter is Prefect's EventFilter. Nil criteria are ignored; the API
// fills the occurred window's defaults before storage sees it, and storage
// reads a nil Since/Until as unbounded.
type EventFilter struct {
	Occurred    *EventOccurredFilter    `json:"occurred,omitempty"`
	Event       *EventNameFilter        `json:"event,omitempty"`
	Resource    *EventResourceFilter    `json:"resource,omitempty"`
	Related     EventRelatedFilters     `json:"related,omitempty"`
	AnyResource EventAnyResourceFilters `json:"any_resource,omitempty"`
	ID          *EventIDFilter          `json:"id,omitempty"`
	Text        *EventTextFilter        `json:"text,omitempty"`
	Order       string                  `json:"order,omitempty"` // "" means DESC
}

// EventOccurredFilter bounds occurred, both ends inclusive.
type EventOccurredFilter struct {
	Since *time.Time `json:"since,omitempty"`
	Until *time.Time `json:"until,omitempty"`
}

// EventNameFilter matches the event name by prefix or exactly.
type EventNameFilter struct {
	Prefix        []string `json:"prefix,omitempty"`
	ExcludePrefix []string `json:"exclude_prefix,omitempty"`
	Name          []string `json:"name,omitempty"`
	ExcludeName   []string `json:"exclude_name,omitempty"`
}

// EventResourceFilter matches the primary resource.
type EventResourceFilter struct {
	ID       []string              `json:"id,omitempty"`
	IDPrefix []string              `json:"id_prefix,omitempty"`
	Labels   ResourceSpecification `json:"labels,omitempty"`
	// Distinct keeps only the first event (in the query's order) of each resource.
	Distinct bool `json:"distinct,omitempty"`
}

// EventRelatedFilter matches events having at least one related resource
// satisfying every criterion.
type EventRelatedFilter struct {
	ID               []string              `json:"id,omitempty"`
	Role             []string              `json:"role,omitempty"`
	ResourcesInRoles [][2]string           `json:"resources_in_roles,omitempty"`
	Labels           ResourceSpecification `json:"labels,omitempty"`
}

// EventAnyResourceFilter matches events having at least one resource
// (primary or related) satisfying every criterion.
type EventAnyResourceFilter struct {
	ID       []string              `json:"id,omitempty"`
	IDPrefix []string              `json:"id_prefix,omitempty"`
	Labels   ResourceSpecification `json:"labels,omitempty"`
}

// EventIDFilter matches event ids.
type EventIDFilter struct {
	ID []uuid.UUID `json:"id,omitempty"`
}

// EventTextFilter is Prefect's text search: space-separated terms are ORed,
// "-term"/"!term" excluded, "+term" required, "quoted phrases" kept whole.
type EventTextFilter struct {
	Query string `json:"query"`
}

// EventTextQueryMaxLength is Prefect's cap on EventTextFilter.query.
const EventTextQueryMaxLength = 200

// ResourceSpecification maps a label to the glob patterns its value must match
// (any of them). A pattern starting with "!" is negated. On the wire a single
// pattern may be a bare string.
type ResourceSpecification map[string]LabelPatterns

// LabelPatterns is a list of patterns that also decodes from a single string.
type LabelPatterns []string

// UnmarshalJSON accepts a string or a list of strings.
func (p *LabelPatterns) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*p = LabelPatterns{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("label patterns must be a string or a list of strings")
	}
	if many == nil {
		many = []string{}
	}
	*p = many
	return nil
}

// EventRelatedFilters is one related filter or a list of them (all must match).
type EventRelatedFilters []EventRelatedFilter

// UnmarshalJSON accepts an object, a list of objects or null.
func (f *EventRelatedFilters) UnmarshalJSON(b []byte) error {
	return oneOrMany(b, (*[]EventRelatedFilter)(f))
}

// EventAnyResourceFilters is one any_resource filter or a list of them (all
// must match).
type EventAnyResourceFilters []EventAnyResourceFilter

// UnmarshalJSON accepts an object, a list of objects or null.
func (f *EventAnyResourceFilters) UnmarshalJSON(b []byte) error {
	return oneOrMany(b, (*[]EventAnyResourceFilter)(f))
}

func oneOrMany[T any](b []byte, dst *[]T) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*dst = nil
		return nil
	case len(b) > 0 && b[0] == '{':
		var one T
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*dst = []T{one}
		return nil
	}
	return json.Unmarshal(b, dst)
}
