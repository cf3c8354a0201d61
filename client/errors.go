package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// APIError is a non-2xx answer from the server.
type APIError struct {
	Method string // request method
	Path   string // API path relative to the API URL, without query string
	Status int
	Body   []byte // raw response body
	// Detail is the server's explanation: Prefect's "detail" (a string, or the
	// compact JSON of a structured detail such as validation errors), else its
	// "exception_message", else the trimmed body when it is not JSON.
	Detail string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// IsNotFound reports whether err is an APIError with status 404.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsConflict reports whether err is an APIError with status 409.
func IsConflict(err error) bool { return hasStatus(err, http.StatusConflict) }

// IsUnauthorized reports whether err is an APIError with status 401.
func IsUnauthorized(err error) bool { return hasStatus(err, http.StatusUnauthorized) }

func hasStatus(err error, status int) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == status
}

// maxPlainDetail bounds how much of a non-JSON body goes into an error message.
const maxPlainDetail = 512

func newAPIError(method, path string, status int, body []byte) *APIError {
	return &APIError{Method: method, Path: stripQuery(path), Status: status, Body: body, Detail: detailOf(body)}
}

// detailOf extracts the human-readable part of a Prefect error body.
func detailOf(body []byte) string {
	var parsed struct {
		Detail           json.RawMessage `json:"detail"`
		ExceptionMessage string          `json:"exception_message"`
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return ""
	}
	if err := json.Unmarshal(trimmed, &parsed); err != nil {
		if json.Valid(trimmed) {
			return "" // JSON, but not an object: nothing to explain
		}
		s := string(trimmed)
		if len(s) > maxPlainDetail {
			s = s[:maxPlainDetail] + "…"
		}
		return s
	}
	if len(parsed.Detail) > 0 && string(parsed.Detail) != "null" {
		var s string
		if json.Unmarshal(parsed.Detail, &s) == nil {
			return s
		}
		var compact bytes.Buffer
		if json.Compact(&compact, parsed.Detail) == nil {
			return compact.String()
		}
	}
	return parsed.ExceptionMessage
}

// stripQuery drops the query string (it may carry secrets) from an API path.
func stripQuery(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		return path[:i]
	}
	return path
}
