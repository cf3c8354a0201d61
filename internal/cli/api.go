package cli

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/warden-orchestration/warden/client"
)

// apiMethods are the methods `warden api` accepts, as `prefect api` does.
var apiMethods = map[string]bool{
	http.MethodGet: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodHead: true, http.MethodOptions: true,
}

func newAPICommand(app *App) *cobra.Command {
	var (
		data    string
		headers []string
		fail    bool
	)
	cmd := &cobra.Command{
		Use:   "api METHOD PATH",
		Short: "Make a request to the configured API (like `prefect api`)",
		Long: `Make a request to the API at PREFECT_API_URL with the configured auth,
custom headers, CSRF handling and retries, and print the response body
(pretty JSON) to stdout.

PATH is relative to the API URL, e.g. /flows/filter. --data takes a JSON
document, @FILE, or - for stdin; POST, PUT and PATCH default to {}.
A non-2xx status is reported on stderr; 4xx and 5xx exit non-zero. With
--fail any non-2xx exits non-zero and its body goes to stderr instead of
stdout, so stdout only ever carries successful responses.`,
		Example: `  warden api GET /flows/abc-123
  warden api POST /flows/filter --data '{"limit": 10}'
  warden api POST /variables/ --data @variable.json -H 'X-Trace: 1'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			method := strings.ToUpper(args[0])
			if !apiMethods[method] {
				return fmt.Errorf("invalid HTTP method %q: use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS", args[0])
			}
			header, err := parseHeaderFlags(headers)
			if err != nil {
				return err
			}
			body, err := readAPIData(app, data, cmd.Flags().Changed("data"))
			if err != nil {
				return err
			}
			if body == nil && (method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch) {
				body = json.RawMessage("{}")
			}
			c, err := clientFromSettings(app)
			if err != nil {
				return err
			}
			defer c.Close()

			var raw []byte
			var reqBody any
			if body != nil {
				reqBody = body
			}
			status, err := c.DoWithHeader(cmd.Context(), method, args[1], header, reqBody, &raw)
			var apiErr *client.APIError
			switch {
			case errors.As(err, &apiErr):
				raw = apiErr.Body
			case err != nil:
				return err
			}
			ok := status >= 200 && status <= 299
			out := app.Stdout
			if !ok {
				fmt.Fprintf(app.Stderr, "HTTP %d %s\n", status, http.StatusText(status))
				if fail {
					out = app.Stderr
				}
			}
			writeBody(out, raw)
			if status >= 400 || (fail && !ok) {
				if apiErr != nil {
					return apiErr
				}
				return fmt.Errorf("%s %s: HTTP %d", method, args[1], status)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&data, "data", "d", "", "request body: JSON, @FILE, or - for stdin")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "extra header 'Name: value' (repeatable)")
	cmd.Flags().BoolVar(&fail, "fail", false, "exit non-zero on any non-2xx status and print its body to stderr")
	return cmd
}

// clientFromSettings builds a client from the loaded settings (api.*,
// client.*); warnings of the client go to the App's stderr.
func clientFromSettings(app *App) (*client.Client, error) {
	s, err := app.LoadSettings()
	if err != nil {
		return nil, err
	}
	cs, err := s.Client()
	if err != nil {
		return nil, err
	}
	if cs.APIURL == "" {
		return nil, errors.New("PREFECT_API_URL is not set; set it (or api.url in your profile) " +
			"to the server's API URL, e.g. PREFECT_API_URL=http://127.0.0.1:4200/api")
	}
	cfg := client.Config{
		APIURL:             cs.APIURL,
		AuthString:         cs.AuthString,
		APIKey:             cs.APIKey,
		CustomHeaders:      cs.CustomHeaders,
		CSRFSupportEnabled: cs.CSRFSupportEnabled,
		MaxRetries:         cs.MaxRetries,
		RetryJitterFactor:  cs.RetryJitterFactor,
		RetryExtraCodes:    cs.RetryExtraCodes,
		RequestTimeout:     cs.RequestTimeout,
		Logger:             slog.New(slog.NewTextHandler(app.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if cs.TLSInsecureSkipVerify {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it (api.tls_insecure_skip_verify)
		cfg.HTTPClient = &http.Client{Transport: transport}
	}
	return client.New(cfg)
}

// parseHeaderFlags turns 'Name: value' flags into a header.
func parseHeaderFlags(flags []string) (http.Header, error) {
	h := http.Header{}
	for _, f := range flags {
		name, value, ok := strings.Cut(f, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("invalid header %q: use 'Name: value'", f)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

// readAPIData resolves --data: JSON text, @FILE (relative to the App's
// directory) or - for stdin. It returns nil for no body and rejects invalid
// JSON before anything is sent.
func readAPIData(app *App, data string, set bool) (json.RawMessage, error) {
	if !set {
		return nil, nil
	}
	var raw []byte
	source := "--data"
	switch {
	case data == "-":
		b, err := io.ReadAll(app.Stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, nil
		}
		raw, source = b, "stdin"
	case strings.HasPrefix(data, "@"):
		path := data[1:]
		if !filepath.IsAbs(path) && app.Dir != "" {
			path = filepath.Join(app.Dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read --data file: %w", err)
		}
		raw, source = b, data[1:]
	default:
		raw = []byte(data)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("invalid JSON in %s", source)
	}
	return json.RawMessage(bytes.TrimSpace(raw)), nil
}

// writeBody prints a response body: indented when it is JSON, as is
// otherwise; nothing for an empty body (204).
func writeBody(w io.Writer, body []byte) {
	if len(bytes.TrimSpace(body)) == 0 {
		return
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, bytes.TrimSpace(body), "", "  ") == nil {
		pretty.WriteByte('\n')
		_, _ = w.Write(pretty.Bytes())
		return
	}
	_, _ = w.Write(body)
	if body[len(body)-1] != '\n' {
		_, _ = io.WriteString(w, "\n")
	}
}
