package events

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// DefaultLookback is how far back a filter without occurred.since reaches:
// Prefect's default is the start of today (UTC) minus 180 days.
const DefaultLookback = 180 * 24 * time.Hour

// WithDefaults returns a copy of f (nil is an empty filter) with Prefect's
// defaults applied for a query at now: occurred.since is the start of today
// minus 180 days and occurred.until is now when absent; order is DESC.
func WithDefaults(f *apitype.EventFilter, now time.Time) *apitype.EventFilter {
	out := apitype.EventFilter{}
	if f != nil {
		out = *f
	}
	occ := apitype.EventOccurredFilter{}
	if out.Occurred != nil {
		occ = *out.Occurred
	}
	now = now.UTC()
	if occ.Since == nil {
		since := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).Add(-DefaultLookback)
		occ.Since = &since
	}
	if occ.Until == nil {
		occ.Until = &now
	}
	out.Occurred = &occ
	if out.Order == "" {
		out.Order = apitype.EventOrderDesc
	}
	return &out
}

// Matches reports whether e satisfies every criterion of f, with the same
// meaning the storage engines give the filter in SQL (a nil filter matches
// everything). Label patterns are globs: `*` matches any run of characters,
// `?` one character, a leading `!` negates, and an absent label never matches
// (negated or not). Unlike Python's fnmatch, `[...]` is literal, as in
// Prefect's SQL translation. Related filters are evaluated here too (Prefect's
// in-memory stream ignores them).
func Matches(f *apitype.EventFilter, e *apitype.ReceivedEvent) bool {
	if f == nil {
		return true
	}
	if o := f.Occurred; o != nil {
		if o.Since != nil && e.Occurred.Before(*o.Since) {
			return false
		}
		if o.Until != nil && e.Occurred.After(*o.Until) {
			return false
		}
	}
	if n := f.Event; n != nil {
		name := e.Event.Event
		if len(n.Prefix) > 0 && !slices.ContainsFunc(n.Prefix, func(p string) bool { return strings.HasPrefix(name, p) }) {
			return false
		}
		if slices.ContainsFunc(n.ExcludePrefix, func(p string) bool { return strings.HasPrefix(name, p) }) {
			return false
		}
		if len(n.Name) > 0 && !slices.Contains(n.Name, name) {
			return false
		}
		if slices.Contains(n.ExcludeName, name) {
			return false
		}
	}
	if r := f.Resource; r != nil {
		id := e.Resource.ID()
		if len(r.ID) > 0 && !slices.Contains(r.ID, id) {
			return false
		}
		if len(r.IDPrefix) > 0 && !slices.ContainsFunc(r.IDPrefix, func(p string) bool { return strings.HasPrefix(id, p) }) {
			return false
		}
		if r.Labels != nil && !matchesSpec(r.Labels, e.Resource) {
			return false
		}
	}
	for i := range f.Related {
		if !matchesRelated(&f.Related[i], e.Related) {
			return false
		}
	}
	for i := range f.AnyResource {
		if !matchesAnyResource(&f.AnyResource[i], e) {
			return false
		}
	}
	if f.ID != nil && len(f.ID.ID) > 0 && !slices.Contains(f.ID.ID, e.ID) {
		return false
	}
	if f.Text != nil && !matchesText(f.Text.Query, e) {
		return false
	}
	return true
}

func matchesRelated(r *apitype.EventRelatedFilter, related []apitype.Resource) bool {
	if len(r.ID) == 0 && len(r.Role) == 0 && len(r.ResourcesInRoles) == 0 && r.Labels == nil {
		return true // no criteria: Prefect adds no clause
	}
	return slices.ContainsFunc(related, func(res apitype.Resource) bool {
		id, role := res.ID(), res.Role()
		if len(r.ID) > 0 && !slices.Contains(r.ID, id) {
			return false
		}
		if len(r.Role) > 0 && !slices.Contains(r.Role, role) {
			return false
		}
		if len(r.ResourcesInRoles) > 0 && !slices.Contains(r.ResourcesInRoles, [2]string{id, role}) {
			return false
		}
		return r.Labels == nil || matchesSpec(r.Labels, res)
	})
}

func matchesAnyResource(r *apitype.EventAnyResourceFilter, e *apitype.ReceivedEvent) bool {
	if len(r.ID) == 0 && len(r.IDPrefix) == 0 && r.Labels == nil {
		return true
	}
	primary := apitype.Resource{}
	for k, v := range e.Resource {
		primary[k] = v
	}
	// The primary resource's role is "", as in event_resources.
	primary[apitype.LabelResourceRole] = ""
	return slices.ContainsFunc(append([]apitype.Resource{primary}, e.Related...), func(res apitype.Resource) bool {
		id := res.ID()
		if len(r.ID) > 0 && !slices.Contains(r.ID, id) {
			return false
		}
		if len(r.IDPrefix) > 0 && !slices.ContainsFunc(r.IDPrefix, func(p string) bool { return strings.HasPrefix(id, p) }) {
			return false
		}
		return r.Labels == nil || matchesSpec(r.Labels, res)
	})
}

// matchesSpec: every label matches one of its patterns.
func matchesSpec(spec apitype.ResourceSpecification, res apitype.Resource) bool {
	for label, patterns := range spec {
		value, ok := res[label]
		if !ok || !slices.ContainsFunc(patterns, func(p string) bool { return MatchLabel(p, value) }) {
			return false
		}
	}
	return true
}

// MatchLabel matches one present label value against a pattern: `*` any run,
// `?` one character, a leading `!` negates.
func MatchLabel(pattern, value string) bool {
	if neg, ok := strings.CutPrefix(pattern, "!"); ok {
		return !glob(neg, value)
	}
	return glob(pattern, value)
}

// glob matches with `*` and `?` wildcards (runes), iteratively with
// backtracking to the last star, so it is linear for typical patterns.
func glob(pattern, value string) bool {
	p, v := []rune(pattern), []rune(value)
	pi, vi, star, mark := 0, 0, -1, 0
	for vi < len(v) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == v[vi]):
			pi++
			vi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, vi
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			vi = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchesText searches the same text the engines search: the event name and
// the JSON of resource, related and payload, lowercased.
func matchesText(query string, e *apitype.ReceivedEvent) bool {
	row, err := storage.NewEventRow(e)
	if err != nil {
		return false
	}
	text := strings.ToLower(e.Event.Event + " " + row.Resource + " " + row.Related + " " + row.Payload)
	q := storage.ParseTextQuery(query)
	has := func(term string) bool { return strings.Contains(text, strings.ToLower(term)) }
	if len(q.Include) > 0 && !slices.ContainsFunc(q.Include, has) {
		return false
	}
	if slices.ContainsFunc(q.Exclude, has) {
		return false
	}
	for _, t := range q.Required {
		if !has(t) {
			return false
		}
	}
	return true
}

// Validate checks a received event as Prefect's models do: a non-empty
// resource id, a non-empty id and role on each related resource, a JSON
// object payload, and the name length and counts within limits. It returns
// a pydantic-style message.
func Validate(e *apitype.Event, lim Limits) string {
	switch {
	case e.ID == uuid.Nil:
		return "id: Field required"
	case e.Event == "":
		return "event: Field required"
	case len([]rune(e.Event)) > lim.maxNameLength():
		return "event: Event name must be at most " + strconv.Itoa(lim.maxNameLength()) + " characters"
	case e.Resource.ID() == "":
		return "resource: Resources must include the prefect.resource.id label"
	case len(e.Resource) > lim.maxLabels():
		return "resource: The maximum number of labels per resource is " + strconv.Itoa(lim.maxLabels())
	case len(e.Related) > lim.maxRelated():
		return "related: The maximum number of related resources is " + strconv.Itoa(lim.maxRelated())
	case e.Occurred.IsZero():
		return "occurred: Field required"
	}
	for _, r := range e.Related {
		if r.ID() == "" {
			return "related: Resources must include the prefect.resource.id label"
		}
		if r.Role() == "" {
			return "related: Related Resources must include the prefect.resource.role label"
		}
		if len(r) > lim.maxLabels() {
			return "related: The maximum number of labels per resource is " + strconv.Itoa(lim.maxLabels())
		}
	}
	if len(e.Payload) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(e.Payload, &obj); err != nil {
			return "payload: Input should be a valid dictionary"
		}
	}
	return ""
}
