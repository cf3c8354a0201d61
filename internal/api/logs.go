package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// logRoutes lists the REST log routes. The /logs/out websocket and
// GET /flow_runs/{id}/logs/download live in flow_run_logs.go.
func (a *app) logRoutes(route route) {
	route("POST", "/logs/{$}", a.logCreate)
	route("POST", "/logs/filter", a.logFilter)
}

// logCreateBody is one LogCreate with every field optional, so missing
// fields are reported the way pydantic does.
type logCreateBody struct {
	Name      *string         `json:"name"`
	Level     *int            `json:"level"`
	Message   *string         `json:"message"`
	Timestamp json.RawMessage `json:"timestamp"`
	FlowRunID *uuid.UUID      `json:"flow_run_id"`
	TaskRunID *uuid.UUID      `json:"task_run_id"`
}

// timestampLayouts are the datetime forms accepted on input: RFC 3339 with
// "T" or a space, and naive forms, which mean UTC as in Prefect.
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func parseTimestamp(s string) (time.Time, bool) {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// decodeLogs validates a POST /logs/ body, reporting every invalid field of
// every element (loc ["body", index, field]) as pydantic does.
func decodeLogs(r *http.Request) ([]apitype.LogCreate, error) {
	var elems []json.RawMessage
	raw, err := decodeBody(r, &elems, false)
	if err != nil {
		return nil, err
	}
	var (
		details []ValidationDetail
		out     = make([]apitype.LogCreate, 0, len(elems))
	)
	for i, elem := range elems {
		bad := func(d ValidationDetail) {
			d.Loc = append([]any{"body", i}, d.Loc...)
			details = append(details, d)
		}
		if t := bytes.TrimSpace(elem); len(t) == 0 || t[0] != '{' {
			bad(ValidationDetail{Type: "model_type", Input: echoBody(elem),
				Msg: "Input should be a valid dictionary or instance of LogCreate", Ctx: map[string]any{"class_name": "LogCreate"}})
			continue
		}
		var b logCreateBody
		if err := json.Unmarshal(elem, &b); err != nil {
			e := jsonError(elem, err)
			for _, d := range e.Body.(validationBody).ExceptionDetail {
				d.Loc = d.Loc[1:] // drop jsonError's "body"
				bad(d)
			}
			continue
		}
		missing := func(field string) {
			bad(ValidationDetail{Loc: []any{field}, Type: "missing", Msg: "Field required", Input: echoBody(elem)})
		}
		if b.Name == nil {
			missing("name")
		}
		if b.Level == nil {
			missing("level")
		}
		if b.Message == nil {
			missing("message")
		}
		var (
			ts   time.Time
			tsOK bool
		)
		if !present(b.Timestamp) {
			missing("timestamp")
		} else {
			var s string
			if json.Unmarshal(b.Timestamp, &s) == nil {
				ts, tsOK = parseTimestamp(s)
			}
			if !tsOK {
				msg := fmt.Sprintf("Unable to parse string [%s]", strings.Trim(string(b.Timestamp), `"`))
				bad(ValidationDetail{Loc: []any{"timestamp"}, Type: "value_error", Msg: "Value error, " + msg,
					Input: echoBody(b.Timestamp), Ctx: map[string]any{"error": msg}})
			}
		}
		if b.Name == nil || b.Level == nil || b.Message == nil || !tsOK {
			continue
		}
		out = append(out, apitype.LogCreate{
			// PostgreSQL rejects NUL in text; Prefect strips it too.
			Name: stripNUL(*b.Name), Level: *b.Level, Message: stripNUL(*b.Message),
			Timestamp: ts, FlowRunID: b.FlowRunID, TaskRunID: b.TaskRunID,
		})
	}
	if len(details) > 0 {
		return nil, errValidation(echoBody(raw), details...)
	}
	return out, nil
}

func stripNUL(s string) string { return strings.ReplaceAll(s, "\x00", "") }

// logCreate stores a batch in one transaction: a 422 or a failure writes
// nothing.
func (a *app) logCreate(w http.ResponseWriter, r *http.Request) error {
	in, err := decodeLogs(r)
	if err != nil {
		return err
	}
	now := a.now().UTC()
	logs := make([]apitype.Log, len(in))
	for i, l := range in {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("log id: %w", err)
		}
		logs[i] = apitype.Log{ID: id, Created: now, Updated: now, Name: l.Name, Level: l.Level,
			Message: l.Message, Timestamp: l.Timestamp, FlowRunID: l.FlowRunID, TaskRunID: l.TaskRunID}
	}
	if err := a.store.LogCreateMany(r.Context(), logs); err != nil {
		return fmt.Errorf("create logs: %w", err)
	}
	a.publishLogs(r.Context(), logs)
	writeJSON(w, http.StatusCreated, nil)
	return nil
}

// logQuery is the body of /logs/filter.
type logQuery struct {
	Logs   *apitype.LogFilter `json:"logs"`
	Sort   *string            `json:"sort"`
	Limit  *int               `json:"limit"`
	Offset *int               `json:"offset"`
}

func (a *app) logFilter(w http.ResponseWriter, r *http.Request) error {
	var q logQuery
	raw, err := decodeBody(r, &q, true)
	if err != nil {
		return err
	}
	sort := apitype.LogSortTimestampAsc
	if q.Sort != nil {
		sort = *q.Sort
		if err := checkEnum(raw, "sort", sort, apitype.LogSortTimestampAsc, apitype.LogSortTimestampDesc); err != nil {
			return err
		}
	}
	if q.Logs != nil && q.Logs.Text != nil {
		if err := checkLogText(raw, q.Logs.Text); err != nil {
			return err
		}
	}
	win, err := a.listWindow(raw, q.Limit, q.Offset)
	if err != nil {
		return err
	}
	if win.empty() {
		writeJSON(w, http.StatusOK, []apitype.Log{})
		return nil
	}
	logs, err := a.store.LogList(r.Context(), &storage.LogListParams{
		Filter: q.Logs, Sort: sort, Limit: win.limit, Offset: win.offset,
	})
	if err != nil {
		return fmt.Errorf("list logs: %w", err)
	}
	writeJSON(w, http.StatusOK, logs)
	return nil
}

// checkLogText applies LogFilterTextSearch's max_length.
func checkLogText(raw []byte, t *apitype.LogFilterText) error {
	if utf8.RuneCountInString(t.Query) <= apitype.LogTextQueryMaxLength {
		return nil
	}
	return errValidation(echoBody(raw), ValidationDetail{
		Loc: []any{"body", "logs", "text", "query"}, Type: "string_too_long", Input: t.Query,
		Msg: fmt.Sprintf("String should have at most %d characters", apitype.LogTextQueryMaxLength),
		Ctx: map[string]any{"max_length": apitype.LogTextQueryMaxLength},
	})
}
