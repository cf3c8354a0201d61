package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

// integrityConflictDetail is Prefect's text for a violated unique or foreign
// key constraint that no handler translated more precisely.
const integrityConflictDetail = "Data integrity conflict. This usually means a " +
	"unique or foreign key constraint was violated. See server logs for details."

// Error is an HTTP error with the exact JSON body Prefect sends for it.
type Error struct {
	Status int
	Body   any
	Header http.Header // extra response headers, may be nil
}

func (e *Error) Error() string { return http.StatusText(e.Status) }

// errDetail is FastAPI's HTTPException shape: {"detail": "..."}.
func errDetail(status int, detail string) *Error {
	return &Error{Status: status, Body: map[string]any{"detail": detail}}
}

// ValidationDetail is one entry of a 422 exception_detail list, shaped like a
// pydantic v2 error.
type ValidationDetail struct {
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Type  string         `json:"type"`
	Input any            `json:"input,omitempty"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

// validationBody is Prefect's validation_exception_handler body.
type validationBody struct {
	ExceptionMessage string             `json:"exception_message"`
	ExceptionDetail  []ValidationDetail `json:"exception_detail"`
	RequestBody      any                `json:"request_body"`
}

// errValidation builds the 422 body; requestBody is echoed as Prefect does.
func errValidation(requestBody any, details ...ValidationDetail) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Body: validationBody{
		ExceptionMessage: "Invalid request received.",
		ExceptionDetail:  details,
		RequestBody:      requestBody,
	}}
}

var (
	errUnauthorized = &Error{Status: http.StatusUnauthorized, Body: map[string]any{"exception_message": "Unauthorized"}}
	errInternal     = &Error{Status: http.StatusInternalServerError, Body: map[string]any{"exception_message": "Internal Server Error"}}
	errNotFound     = errDetail(http.StatusNotFound, "Not Found")
)

// handlerFunc is the signature of every route handler: write the success
// response, or return an error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc to http.Handler.
func (a *app) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// writeError is the one place errors become responses. Storage sentinels a
// handler did not translate get Prefect's generic bodies; anything else is a
// 500 whose cause goes to the log only.
func (a *app) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &tooLarge):
		e = errBodyTooLarge
	case errors.Is(err, storage.ErrInvalidFilter):
		e = errValidation(nil, ValidationDetail{Loc: []any{"body"}, Type: "value_error", Msg: "Value error, " + err.Error()})
	case errors.Is(err, storage.ErrNotFound):
		e = errNotFound
	case errors.Is(err, storage.ErrRetryable):
		// Prefect's answer to retryable database errors; its clients retry 503.
		a.logger.Warn("retryable database error", slog.String("path", r.URL.Path), slog.Any("err", err))
		e = &Error{Status: http.StatusServiceUnavailable, Body: map[string]any{"exception_message": "Service Unavailable"}}
	case errors.Is(err, runstate.ErrUnsupportedEffect):
		// An honest "not yet" rather than a 500: the transition was rolled back.
		a.logger.Warn("orchestration effect not supported", slog.String("path", r.URL.Path), slog.Any("err", err))
		e = errDetail(http.StatusNotImplemented, "This state transition needs a feature Warden does not support yet; nothing was changed.")
	case errors.Is(err, storage.ErrConflict):
		a.logger.Warn("integrity conflict", slog.String("path", r.URL.Path), slog.Any("err", err))
		e = errDetail(http.StatusConflict, integrityConflictDetail)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody will read a body.
		return
	default:
		a.logger.Error("request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Any("err", err))
		e = errInternal
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	writeJSON(w, e.Status, e.Body)
}

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error gets here (an unmarshalable type).
		status = http.StatusInternalServerError
		b = []byte(`{"exception_message":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeNoContent answers 204 for PATCH and DELETE.
func writeNoContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }
