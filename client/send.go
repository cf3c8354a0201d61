package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maintenanceAttempts caps the attempts made while the server answers with
// Prefect-Maintenance: true. Prefect's client retries those forever; a cap
// keeps a stuck maintenance window from hanging a caller indefinitely.
const maintenanceAttempts = 100

// maxBackoffExponent bounds 2**attempt so large MaxRetries cannot overflow.
const maxBackoffExponent = 16

// response is a fully read HTTP answer; bodies are small JSON documents.
type response struct {
	status int
	header http.Header
	body   []byte
}

// Do sends one request to path (relative to the API URL, may carry a query)
// and returns the status. body is JSON-encoded unless it is nil, []byte,
// json.RawMessage or an io.Reader (sent as is). out receives the decoded 2xx
// body; *[]byte and *json.RawMessage receive it raw. A non-2xx answer returns
// its status and an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) (int, error) {
	return c.DoWithHeader(ctx, method, path, nil, body, out)
}

// DoWithHeader is Do with extra headers for this request only. They are
// applied after the client's custom headers; the CSRF headers still win.
func (c *Client) DoWithHeader(ctx context.Context, method, path string, header http.Header, body, out any) (int, error) {
	method = strings.ToUpper(method)
	data, err := encodeBody(body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: encode body: %w", method, stripQuery(path), err)
	}
	resp, err := c.send(ctx, method, path, header, data)
	if err != nil {
		return 0, err
	}
	if resp.status < 200 || resp.status > 299 {
		return resp.status, newAPIError(method, path, resp.status, resp.body)
	}
	if err := decodeBody(resp.body, out); err != nil {
		return resp.status, fmt.Errorf("%s %s: decode response: %w", method, stripQuery(path), err)
	}
	return resp.status, nil
}

func encodeBody(body any) ([]byte, error) {
	switch b := body.(type) {
	case nil:
		return nil, nil
	case []byte:
		return b, nil
	case json.RawMessage:
		return b, nil
	case io.Reader:
		return io.ReadAll(b)
	default:
		return json.Marshal(b)
	}
}

func decodeBody(body []byte, out any) error {
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = append([]byte(nil), body...)
		return nil
	case *json.RawMessage:
		*o = append(json.RawMessage(nil), body...)
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return json.Unmarshal(body, out)
}

func isMutating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// send runs the retry loop of Prefect's client: CSRF token first for
// mutating requests, then attempts until a non-retryable status or the
// retry budget is spent. The final response is returned whatever its status.
//
// Difference from Python: after a 403 "Invalid CSRF token" the request is
// resent once, immediately, with a fresh token. Python instead falls through
// to its backoff sleep (about 2 s) and counts the 403 as a retry attempt; a
// stale token is not an overload signal, so waiting buys nothing.
func (c *Client) send(ctx context.Context, method, path string, extra http.Header, body []byte) (*response, error) {
	var token string
	if isMutating(method) {
		t, err := c.csrfToken(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, stripQuery(path), err)
		}
		token = t
	}
	counted, total := 0, 0
	csrfRetried := false
	for {
		resp, err := c.attempt(ctx, method, path, extra, body, token)
		if err != nil {
			return nil, err
		}
		total++
		if resp.header.Get("Prefect-Maintenance") != "true" {
			counted++
		}
		if token != "" && !csrfRetried && resp.status == http.StatusForbidden &&
			strings.Contains(string(resp.body), csrfInvalidText) {
			csrfRetried = true
			if err := c.invalidateCSRF(ctx, token); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, stripQuery(path), err)
			}
			if token, err = c.csrfToken(ctx); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, stripQuery(path), err)
			}
			continue
		}
		if !c.retryCodes[resp.status] || counted > c.maxRetries || total >= c.maxRetries+maintenanceAttempts {
			return resp, nil
		}
		delay := c.retryDelay(resp, counted)
		c.logger.Debug("retrying request",
			slog.String("method", method), slog.String("path", stripQuery(path)),
			slog.Int("status", resp.status), slog.Duration("delay", delay), slog.Int("attempt", total))
		if err := c.sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, stripQuery(path), err)
		}
	}
}

// retryDelay is Retry-After when the server sent a usable one (never waiting
// less, jitter only adds), else 2**attempt seconds with symmetric jitter.
// Python draws the jitter from a clamped Poisson distribution; a uniform draw
// over the same bounds keeps the property that matters (spread, same mean).
func (c *Client) retryDelay(resp *response, attempt int) time.Duration {
	if d, ok := parseRetryAfter(resp.header.Get("Retry-After"), c.now()); ok {
		return d + time.Duration(rand.Float64()*c.jitter*float64(d))
	}
	d := time.Duration(1<<min(attempt, maxBackoffExponent)) * time.Second
	if c.jitter == 0 {
		return d
	}
	lo := max(0, float64(d)*(1-c.jitter))
	hi := float64(d) * (1 + c.jitter)
	return time.Duration(lo + rand.Float64()*(hi-lo))
}

// parseRetryAfter accepts both RFC 9110 forms: delay-seconds (fractions
// allowed, as Prefect's client does) and HTTP-date. Past dates mean 0.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) || secs > math.MaxInt64/float64(time.Second) {
			return 0, false
		}
		return time.Duration(max(secs, 0) * float64(time.Second)), true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// attempt makes one HTTP exchange with the client's headers and a
// per-attempt timeout, and reads the whole body.
func (c *Client) attempt(ctx context.Context, method, path string, extra http.Header, body []byte, csrfToken string) (*response, error) {
	u, err := c.resolve(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, stripQuery(path), err)
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, u.String(), rdr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, stripQuery(path), unwrapURLError(err))
	}
	for name, values := range c.header {
		req.Header[name] = append([]string(nil), values...)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.host != "" {
		req.Host = c.host
	}
	for name, values := range extra {
		if strings.EqualFold(name, "Host") && len(values) > 0 {
			req.Host = values[0]
			continue
		}
		req.Header[http.CanonicalHeaderKey(name)] = append([]string(nil), values...)
	}
	if csrfToken != "" {
		req.Header.Set("Prefect-Csrf-Token", csrfToken)
		req.Header.Set("Prefect-Csrf-Client", c.csrfClientID())
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, redactURL(u), unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, redactURL(u), unwrapURLError(err))
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// resolve joins an API path (with optional query) onto the API URL.
func (c *Client) resolve(path string) (*url.URL, error) {
	rel, err := url.Parse(path)
	if err != nil || rel.Scheme != "" || rel.Host != "" || rel.User != nil {
		return nil, errors.New("invalid API path")
	}
	u := *c.base
	u.Path = c.base.Path + "/" + strings.TrimPrefix(rel.Path, "/")
	u.RawPath = ""
	if rel.RawPath != "" || c.base.RawPath != "" {
		u.RawPath = c.base.EscapedPath() + "/" + strings.TrimPrefix(rel.EscapedPath(), "/")
	}
	u.RawQuery = rel.RawQuery
	return &u, nil
}

// unwrapURLError drops net/http's *url.Error wrapper, whose message repeats
// the request URL (net/http masks only the password, not the user name).
func unwrapURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}
