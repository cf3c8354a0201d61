package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// API is a plain HTTP client for one server. It deliberately does not use
// the Go SDK in client/: that retries 503s and refreshes CSRF tokens, which
// would hide exactly the failures the harness must count.
type API struct {
	Base string // http://127.0.0.1:port/api
	hc   *http.Client
	Errs *Errors
}

// NewAPI keeps up to conns idle connections, one per concurrent worker, so
// keep-alive holds for both servers.
func NewAPI(base string, conns int, errs *Errors) *API {
	tr := &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: 20 * time.Second}
	return &API{Base: base, hc: &http.Client{Transport: tr, Timeout: 120 * time.Second}, Errs: errs}
}

// Close drops idle connections.
func (a *API) Close() { a.hc.CloseIdleConnections() }

// Post sends body as JSON and decodes a 2xx answer into out (when not nil).
// Anything else is recorded in Errs and returned as an error.
func (a *API) Post(ctx context.Context, path string, body, out any) error {
	return a.Do(ctx, "POST", path, body, out)
}

// Do is Post for any method.
func (a *API) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			a.Errs.Add(method+" "+route(path)+" transport", err.Error())
		}
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.Errs.Add(method+" "+route(path)+" read", err.Error())
		return err
	}
	if resp.StatusCode/100 != 2 {
		kind := fmt.Sprintf("%s %s %d", method, route(path), resp.StatusCode)
		a.Errs.Add(kind, string(raw))
		return fmt.Errorf("%s: %s", kind, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.Errs.Add(method+" "+route(path)+" decode", err.Error())
			return err
		}
	}
	return nil
}

// route replaces ids in a path by {id} so errors group by endpoint.
func route(path string) string {
	var out []byte
	seg := []byte{}
	flush := func() {
		if len(seg) == 36 && seg[8] == '-' && seg[13] == '-' {
			out = append(out, "{id}"...)
		} else {
			out = append(out, seg...)
		}
		seg = seg[:0]
	}
	for i := 0; i < len(path); i++ {
		if path[i] == '/' {
			flush()
			out = append(out, '/')
			continue
		}
		seg = append(seg, path[i])
	}
	flush()
	return string(out)
}
