package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/storage"
)

// eventPageSize is Prefect's INTERACTIVE_PAGE_SIZE: the default and maximum
// limit of /events/filter.
const eventPageSize = 50

var errForbidden = errDetail(http.StatusForbidden, "Forbidden")

func (a *app) eventRoutes(route route) {
	route("POST", "/events", a.eventCreate)
	route("POST", "/events/filter", a.eventFilter)
	route("GET", "/events/filter/next", a.eventFilterNext)
	route("POST", "/events/count-by/{countable}", a.eventCountBy)
}

// receiveEvents validates client events and stamps them received now.
func (a *app) receiveEvents(raw []byte, in []apitype.Event) ([]apitype.ReceivedEvent, error) {
	now := a.now().UTC()
	out := make([]apitype.ReceivedEvent, len(in))
	for i := range in {
		if msg := events.Validate(&in[i], a.events.Limits()); msg != "" {
			return nil, errValidation(echoBody(raw), ValidationDetail{
				Loc: []any{"body", i}, Type: "value_error", Msg: "Value error, " + msg,
			})
		}
		out[i] = apitype.ReceivedEvent{Event: in[i], Received: now}
	}
	return out, nil
}

// eventCreate is POST /events: validate the whole batch, then publish it.
func (a *app) eventCreate(w http.ResponseWriter, r *http.Request) error {
	var in []apitype.Event
	raw, err := decodeBody(r, &in, false)
	if err != nil {
		return err
	}
	received, err := a.receiveEvents(raw, in)
	if err != nil {
		return err
	}
	if err := a.events.Bus().Publish(r.Context(), received); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkEventFilter applies the EventFilter constraints storage does not.
func checkEventFilter(raw []byte, loc []any, f *apitype.EventFilter) error {
	if f == nil {
		return nil
	}
	if f.Order != "" && f.Order != apitype.EventOrderAsc && f.Order != apitype.EventOrderDesc {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: append(loc, "order"), Type: "enum", Input: f.Order,
			Msg: "Input should be 'ASC' or 'DESC'", Ctx: map[string]any{"expected": "'ASC' or 'DESC'"},
		})
	}
	if f.Text != nil && utf8.RuneCountInString(f.Text.Query) > apitype.EventTextQueryMaxLength {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: append(loc, "text", "query"), Type: "string_too_long", Input: f.Text.Query,
			Msg: fmt.Sprintf("String should have at most %d characters", apitype.EventTextQueryMaxLength),
			Ctx: map[string]any{"max_length": apitype.EventTextQueryMaxLength},
		})
	}
	return nil
}

// eventPageToken is what a next-page link carries: the resolved filter (so
// later pages see the same window), the first page's total and the position.
type eventPageToken struct {
	Filter   *apitype.EventFilter `json:"filter"`
	Count    int64                `json:"count"`
	PageSize int                  `json:"page_size"`
	Offset   int                  `json:"offset"`
}

func (a *app) eventFilter(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Filter *apitype.EventFilter `json:"filter"`
		Limit  *int                 `json:"limit"`
	}
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	limit := eventPageSize
	if body.Limit != nil {
		limit = *body.Limit
	}
	if err := checkMin(raw, "limit", limit, 0); err != nil {
		return err
	}
	if err := checkMax(raw, "limit", limit, eventPageSize); err != nil {
		return err
	}
	if err := checkEventFilter(raw, []any{"body", "filter"}, body.Filter); err != nil {
		return err
	}
	f := events.WithDefaults(body.Filter, a.now())
	total, err := a.store.EventCount(r.Context(), f)
	if err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	return a.writeEventPage(w, r, eventPageToken{Filter: f, Count: total, PageSize: limit})
}

func (a *app) eventFilterNext(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("page-token") {
		return errValidation(nil, ValidationDetail{Loc: []any{"query", "page-token"}, Type: "missing", Msg: "Field required"})
	}
	b, err := base64.RawURLEncoding.DecodeString(q.Get("page-token"))
	if err != nil || len(b) == 0 {
		return errForbidden
	}
	var tok eventPageToken
	if err := json.Unmarshal(b, &tok); err != nil || tok.Filter == nil ||
		tok.PageSize <= 0 || tok.PageSize > eventPageSize || tok.Offset < 0 ||
		checkEventFilter(nil, nil, tok.Filter) != nil {
		return errForbidden
	}
	return a.writeEventPage(w, r, tok)
}

// writeEventPage reads the page at tok.Offset and links the next one while
// the first page's total says more remain (Prefect's to_page_token).
func (a *app) writeEventPage(w http.ResponseWriter, r *http.Request, tok eventPageToken) error {
	page := []apitype.ReceivedEvent{}
	if tok.PageSize > 0 {
		var err error
		page, err = a.store.EventList(r.Context(), &storage.EventListParams{Filter: tok.Filter, Limit: tok.PageSize, Offset: tok.Offset})
		if err != nil {
			return fmt.Errorf("list events: %w", err)
		}
	}
	res := apitype.EventPage{Events: page, Total: tok.Count}
	if tok.PageSize > 0 && int64(tok.Offset+tok.PageSize) < tok.Count {
		next := tok
		next.Offset += tok.PageSize
		b, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("encode page token: %w", err)
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		link := (&url.URL{Scheme: scheme, Host: r.Host, Path: a.base + "/events/filter/next",
			RawQuery: "page-token=" + base64.RawURLEncoding.EncodeToString(b)}).String()
		res.NextPage = &link
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *app) eventCountBy(w http.ResponseWriter, r *http.Request) error {
	countable := r.PathValue("countable")
	switch countable {
	case apitype.CountableDay, apitype.CountableTime, apitype.CountableEvent, apitype.CountableResource:
	default:
		return errValidation(nil, ValidationDetail{
			Loc: []any{"path", "countable"}, Type: "enum", Input: countable,
			Msg: "Input should be 'day', 'time', 'event' or 'resource'",
			Ctx: map[string]any{"expected": "'day', 'time', 'event' or 'resource'"},
		})
	}
	var body struct {
		Filter       *apitype.EventFilter `json:"filter"`
		TimeUnit     *string              `json:"time_unit"`
		TimeInterval *float64             `json:"time_interval"`
	}
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if body.Filter == nil {
		return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "filter"}, Type: "missing", Msg: "Field required"})
	}
	if err := checkEventFilter(raw, []any{"body", "filter"}, body.Filter); err != nil {
		return err
	}
	unit, interval := apitype.TimeUnitDay, 1.0
	if body.TimeUnit != nil {
		unit = *body.TimeUnit
	}
	if err := checkEnum(raw, "time_unit", unit, apitype.TimeUnitWeek, apitype.TimeUnitDay,
		apitype.TimeUnitHour, apitype.TimeUnitMinute, apitype.TimeUnitSecond); err != nil {
		return err
	}
	if body.TimeInterval != nil {
		interval = *body.TimeInterval
	}
	if interval < events.MinCountInterval {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "time_interval"}, Type: "greater_than_equal", Input: interval,
			Msg: "Input should be greater than or equal to 0.01", Ctx: map[string]any{"ge": 0.01},
		})
	}
	now := a.now().UTC()
	f := events.WithDefaults(body.Filter, now)
	if msg := events.CheckBuckets(*f.Occurred.Since, *f.Occurred.Until, unit, interval); msg != "" {
		return errDetail(http.StatusUnprocessableEntity, msg)
	}
	p := &storage.EventCountByParams{Filter: f, Countable: countable}
	if countable == apitype.CountableDay {
		// The legacy day countable is time in one-day buckets.
		p.Countable, unit, interval = apitype.CountableTime, apitype.TimeUnitDay, 1
	}
	if p.Countable == apitype.CountableTime {
		width, err := events.BucketWidth(unit, interval)
		if err != nil {
			return err
		}
		p.BucketSeconds = width.Seconds()
	}
	counts, err := a.store.EventCountBy(r.Context(), p)
	if err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	if p.Countable == apitype.CountableTime {
		if counts, err = events.TimeCounts(*f.Occurred.Since, *f.Occurred.Until, now, unit, interval, counts); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, counts)
	return nil
}
