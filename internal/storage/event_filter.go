package storage

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/warden-orchestration/warden/apitype"
)

// EventDialect is what the events queries need beyond Dialect. Matching is
// case-sensitive everywhere, as Prefect's fnmatchcase and PostgreSQL LIKE are.
type EventDialect interface {
	Dialect
	// Time is the bind form of a timestamp column value.
	Time(t time.Time) any
	// Glob matches col against a label pattern: `*` is any run of
	// characters, `?` any one character, everything else literal.
	Glob(w *Where, col, pattern string) string
	// HasPrefix matches col starting with prefix, literally.
	HasPrefix(w *Where, col, prefix string) string
	// Label is the text value of one label of the JSON object column col
	// (NULL when absent).
	Label(w *Where, col, label string) string
	// SearchText is the lowercased text the text filter searches: the event
	// name, resource, related and payload of the events row.
	SearchText() string
	// Epoch is col (a timestamp) as fractional seconds since 1970.
	Epoch(col string) string
}

// EventColumns are the events columns every read selects, in scan order.
const EventColumns = `id, occurred, event, resource, related, payload, received, follows`

// EventOrderBy returns the ORDER BY list of an event order ("" is DESC).
func EventOrderBy(order string) (string, error) {
	switch order {
	case "", apitype.EventOrderDesc:
		return "occurred DESC, id DESC", nil
	case apitype.EventOrderAsc:
		return "occurred ASC, id ASC", nil
	}
	return "", fmt.Errorf("%w: event order %q", ErrInvalidFilter, order)
}

func (w *Where) eventDialect() EventDialect {
	d, ok := w.d.(EventDialect)
	if !ok {
		panic("storage: event queries need an EventDialect")
	}
	return d
}

// EventListQuery renders the SELECT of a page of events without its
// LIMIT/OFFSET, which the engine appends with its own page clause.
func (w *Where) EventListQuery(f *apitype.EventFilter) (string, error) {
	cond, err := w.Event(f)
	if err != nil {
		return "", err
	}
	var order string
	if f != nil {
		order = f.Order
	}
	orderBy, err := EventOrderBy(order)
	if err != nil {
		return "", err
	}
	if f != nil && f.Resource != nil && f.Resource.Distinct {
		// The first event of each resource in the requested order.
		return `SELECT ` + EventColumns + ` FROM (SELECT ` + EventColumns +
			`, ROW_NUMBER() OVER (PARTITION BY resource_id ORDER BY ` + orderBy + `) AS rn FROM events WHERE ` + cond +
			`) AS firsts WHERE rn = 1 ORDER BY ` + orderBy, nil
	}
	return `SELECT ` + EventColumns + ` FROM events WHERE ` + cond + ` ORDER BY ` + orderBy, nil
}

// EventCountQuery renders the count of matching events.
func (w *Where) EventCountQuery(f *apitype.EventFilter) (string, error) {
	cond, err := w.Event(f)
	if err != nil {
		return "", err
	}
	if f != nil && f.Resource != nil && f.Resource.Distinct {
		return `SELECT count(DISTINCT resource_id) FROM events WHERE ` + cond, nil
	}
	return `SELECT count(*) FROM events WHERE ` + cond, nil
}

// EventCountByQuery renders a count-by query selecting value, label, count,
// start_time and end_time.
func (w *Where) EventCountByQuery(p *EventCountByParams) (string, error) {
	d := w.eventDialect()
	switch p.Countable {
	case apitype.CountableTime:
		if p.BucketSeconds <= 0 {
			return "", fmt.Errorf("%w: bucket size %v", ErrInvalidFilter, p.BucketSeconds)
		}
		bucket := `floor((` + d.Epoch("occurred") + ` - ` + w.Bind(float64(EventCountPivot.Unix())) + `) / ` + w.Bind(p.BucketSeconds) + `)`
		cond, err := w.Event(p.Filter)
		if err != nil {
			return "", err
		}
		return `SELECT CAST(CAST(` + bucket + ` AS BIGINT) AS TEXT) AS value, '' AS label, count(*) AS n,
			min(occurred), max(occurred) FROM events WHERE ` + cond + ` GROUP BY value ORDER BY min(occurred)`, nil
	case apitype.CountableEvent:
		cond, err := w.Event(p.Filter)
		if err != nil {
			return "", err
		}
		return `SELECT event AS value, event AS label, count(*) AS n, min(occurred), max(occurred)
			FROM events WHERE ` + cond + ` GROUP BY event ORDER BY n DESC, label ASC`, nil
	case apitype.CountableResource:
		// Label each resource by its name in its latest event, as Prefect does.
		label := `COALESCE(` + d.Label(w, "resource", apitype.LabelResourceName) + `, ` +
			d.Label(w, "resource", "prefect.name") + `, resource_id)`
		cond, err := w.Event(p.Filter)
		if err != nil {
			return "", err
		}
		latest := `PARTITION BY resource_id ORDER BY occurred DESC, id DESC`
		return `SELECT value, label, n, start_time, end_time FROM (SELECT resource_id AS value,
			FIRST_VALUE(` + label + `) OVER (` + latest + `) AS label,
			count(*) OVER (PARTITION BY resource_id) AS n,
			min(occurred) OVER (PARTITION BY resource_id) AS start_time,
			max(occurred) OVER (PARTITION BY resource_id) AS end_time,
			ROW_NUMBER() OVER (` + latest + `) AS rn
			FROM events WHERE ` + cond + `) AS counted WHERE rn = 1 ORDER BY n DESC, label ASC`, nil
	}
	return "", fmt.Errorf("%w: countable %q", ErrInvalidFilter, p.Countable)
}

// Event renders an EventFilter as a boolean SQL expression over the events
// table. Resource criteria search event_resources, scoped to the occurred
// window so its index bounds the scan. A nil filter matches every row.
func (w *Where) Event(f *apitype.EventFilter) (string, error) {
	if f == nil {
		return sqlTrue, nil
	}
	d := w.eventDialect()
	var preds []string
	var since, until *time.Time
	if f.Occurred != nil {
		since, until = f.Occurred.Since, f.Occurred.Until
	}
	if since != nil {
		preds = append(preds, "occurred >= "+w.Bind(d.Time(*since)))
	}
	if until != nil {
		preds = append(preds, "occurred <= "+w.Bind(d.Time(*until)))
	}
	// scoped wraps event_resources criteria into an id subquery.
	scoped := func(erPreds []string) string {
		if since != nil {
			erPreds = append(erPreds, "er.occurred >= "+w.Bind(d.Time(*since)))
		}
		if until != nil {
			erPreds = append(erPreds, "er.occurred <= "+w.Bind(d.Time(*until)))
		}
		return "(id IN (SELECT er.event_id FROM event_resources AS er WHERE " + combine(apitype.OperatorAnd, erPreds) + "))"
	}
	if n := f.Event; n != nil {
		if len(n.Prefix) > 0 {
			preds = append(preds, w.anyOf(n.Prefix, func(p string) string { return d.HasPrefix(w, "event", p) }))
		}
		for _, p := range n.ExcludePrefix {
			preds = append(preds, "NOT "+d.HasPrefix(w, "event", p))
		}
		if len(n.Name) > 0 {
			preds = append(preds, d.In(w, "event", n.Name))
		}
		if len(n.ExcludeName) > 0 {
			preds = append(preds, "NOT "+d.In(w, "event", n.ExcludeName))
		}
	}
	if r := f.Resource; r != nil {
		if len(r.ID) > 0 {
			preds = append(preds, d.In(w, "resource_id", r.ID))
		}
		if len(r.IDPrefix) > 0 {
			preds = append(preds, w.anyOf(r.IDPrefix, func(p string) string { return d.HasPrefix(w, "resource_id", p) }))
		}
		if r.Labels != nil {
			// The primary resource is the event_resources row without a role.
			preds = append(preds, scoped(append([]string{"er.resource_role = ''"}, w.labelPreds(r.Labels)...)))
		}
	}
	for _, r := range f.Related {
		var er []string
		if len(r.ID) > 0 {
			er = append(er, d.In(w, "er.resource_id", r.ID))
		}
		if len(r.Role) > 0 {
			er = append(er, d.In(w, "er.resource_role", r.Role))
		}
		if len(r.ResourcesInRoles) > 0 {
			er = append(er, w.anyOf(nil, nil, pairPreds(w, r.ResourcesInRoles)...))
		}
		if r.Labels != nil {
			er = append(er, w.labelPreds(r.Labels)...)
		}
		if len(er) == 0 {
			continue
		}
		if len(r.Role) == 0 {
			er = append(er, "er.resource_role <> ''")
		}
		preds = append(preds, scoped(er))
	}
	for _, r := range f.AnyResource {
		var er []string
		if len(r.ID) > 0 {
			er = append(er, d.In(w, "er.resource_id", r.ID))
		}
		if len(r.IDPrefix) > 0 {
			er = append(er, w.anyOf(r.IDPrefix, func(p string) string { return d.HasPrefix(w, "er.resource_id", p) }))
		}
		if r.Labels != nil {
			er = append(er, w.labelPreds(r.Labels)...)
		}
		if len(er) > 0 {
			preds = append(preds, scoped(er))
		}
	}
	if f.ID != nil && len(f.ID.ID) > 0 {
		preds = append(preds, d.InIDs(w, "id", f.ID.ID))
	}
	if f.Text != nil {
		preds = append(preds, w.textPreds(f.Text.Query)...)
	}
	return combine(apitype.OperatorAnd, preds), nil
}

func pairPreds(w *Where, pairs [][2]string) []string {
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = "(er.resource_id = " + w.Bind(p[0]) + " AND er.resource_role = " + w.Bind(p[1]) + ")"
	}
	return out
}

// anyOf ORs one predicate per value (plus any ready-made ones).
func (w *Where) anyOf(values []string, pred func(string) string, extra ...string) string {
	preds := extra
	for _, v := range values {
		preds = append(preds, pred(v))
	}
	if len(preds) == 0 {
		return sqlFalse
	}
	return combine(apitype.OperatorOr, preds)
}

// labelPreds renders a ResourceSpecification over an event_resources row:
// each label must match one of its patterns; the id and role labels live in
// their own columns, the others in the resource JSON.
func (w *Where) labelPreds(spec apitype.ResourceSpecification) []string {
	d := w.eventDialect()
	var preds []string
	for _, label := range sortedKeys(spec) {
		patterns := spec[label]
		// col is rendered per use: its bind markers must appear once per use.
		col := func() string {
			switch label {
			case apitype.LabelResourceID:
				return "er.resource_id"
			case apitype.LabelResourceRole:
				return "er.resource_role"
			}
			return d.Label(w, "er.resource", label)
		}
		preds = append(preds, w.anyOf(patterns, func(p string) string {
			if neg, ok := strings.CutPrefix(p, "!"); ok {
				// NOT over a NULL (absent label) stays NULL: no match, as in Prefect.
				return "(NOT " + d.Glob(w, col(), neg) + ")"
			}
			return d.Glob(w, col(), p)
		}))
	}
	return preds
}

// textPreds renders the text search: any include term, no exclude term,
// every required term (case-insensitive substrings).
func (w *Where) textPreds(query string) []string {
	d := w.eventDialect()
	q := ParseTextQuery(query)
	contains := func(term string) string {
		return d.ILike(w, d.SearchText(), LikeContains(strings.ToLower(term)))
	}
	var preds []string
	if len(q.Include) > 0 {
		preds = append(preds, w.anyOf(q.Include, contains))
	}
	for _, t := range q.Exclude {
		preds = append(preds, "NOT "+contains(t))
	}
	for _, t := range q.Required {
		preds = append(preds, contains(t))
	}
	return preds
}

// TextQuery is a parsed text search.
type TextQuery struct {
	Include, Exclude, Required []string
}

// ParseTextQuery parses Prefect's text search syntax: whitespace-separated
// terms; a leading "-" or "!" excludes, "+" requires; double quotes keep a
// phrase together (with \" and \\ escapes). A prefix followed by a space is
// dropped.
func ParseTextQuery(query string) TextQuery {
	var q TextQuery
	s := []rune(query)
	add := func(prefix rune, term string) {
		switch prefix {
		case '-', '!':
			q.Exclude = append(q.Exclude, term)
		case '+':
			q.Required = append(q.Required, term)
		default:
			q.Include = append(q.Include, term)
		}
	}
	for i := 0; i < len(s); {
		if unicode.IsSpace(s[i]) {
			i++
			continue
		}
		var prefix rune
		if strings.ContainsRune("-!+", s[i]) {
			if i+1 >= len(s) || unicode.IsSpace(s[i+1]) {
				i++
				continue
			}
			prefix = s[i]
			i++
		}
		if s[i] == '"' {
			i++
			var b strings.Builder
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					b.WriteRune(s[i+1])
					i += 2
					continue
				}
				b.WriteRune(s[i])
				i++
			}
			i++ // closing quote (or end)
			if phrase := b.String(); strings.TrimSpace(phrase) != "" {
				add(prefix, phrase)
			}
			continue
		}
		start := i
		for i < len(s) && !unicode.IsSpace(s[i]) && s[i] != '"' {
			i++
		}
		if term := string(s[start:i]); term != "" {
			add(prefix, term)
		}
	}
	return q
}

func sortedKeys[V any](m map[string]V) []string {
	// Sorted so identical filters give identical SQL (and bind order).
	return slices.Sorted(maps.Keys(m))
}
