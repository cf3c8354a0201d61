package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// logsDownloadPageSize is Prefect's FLOW_RUN_LOGS_DOWNLOAD_PAGE_LIMIT.
const logsDownloadPageSize = 1000

func (a *app) logSocketRoutes(ws func(path string, h http.HandlerFunc)) {
	ws("/logs/out", a.logsOut)
}

// publishLogs hands a committed batch to the live stream when
// server.logs.stream_publishing_enabled is on (Prefect publishes nothing
// otherwise). A failure only costs live subscribers the batch: it is stored.
func (a *app) publishLogs(ctx context.Context, logs []apitype.Log) {
	if !a.settings.LogsStreamPublishingEnabled || len(logs) == 0 {
		return
	}
	if err := a.logs.PublishLogs(ctx, logs); err != nil {
		a.logger.Warn("publish logs failed", slog.Any("err", err))
	}
}

// logsOut is /logs/out: after the auth handshake the client sends
// {"type":"filter","filter":<LogFilter>} and receives {"type":"log","log":...}
// for every matching log stored from then on (no backfill, as in Prefect).
// With server.logs.stream_out_enabled off (Prefect's default) the socket is
// served but, as in Prefect, nothing is distributed to it.
func (a *app) logsOut(w http.ResponseWriter, r *http.Request) {
	conn, ok := a.acceptSocket(w, r)
	if !ok {
		return
	}
	defer conn.CloseNow()
	ctx := r.Context()

	rctx, cancel := context.WithTimeout(ctx, filterMessageTimeout)
	typ, data, err := conn.Read(rctx)
	cancel()
	if err != nil {
		return
	}
	var msg struct {
		Type   string          `json:"type"`
		Filter json.RawMessage `json:"filter"`
	}
	if typ != websocket.MessageText || json.Unmarshal(data, &msg) != nil || msg.Type != "filter" {
		conn.Close(websocket.StatusProtocolError, "Expected 'filter' message")
		return
	}
	var filter apitype.LogFilter
	if !present(msg.Filter) {
		conn.Close(websocket.StatusProtocolError, "Invalid filter: a LogFilter object is required")
		return
	}
	if err := json.Unmarshal(msg.Filter, &filter); err != nil {
		conn.Close(websocket.StatusProtocolError, truncateReason("Invalid filter: "+err.Error()))
		return
	}

	// From here the client only sends control frames; CloseRead answers
	// pings and cancels ctx on disconnect.
	ctx = conn.CloseRead(ctx)
	go a.keepalive(ctx, conn)
	if !a.settings.LogsStreamOutEnabled {
		<-ctx.Done()
		return
	}
	sub, err := a.logs.SubscribeLogs(&filter, 0)
	if err != nil {
		conn.Close(websocket.StatusTryAgainLater, "Log stream unavailable")
		return
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case l, ok := <-sub.Logs():
			if !ok {
				conn.Close(websocket.StatusGoingAway, "")
				return
			}
			if err := a.sendLog(ctx, conn, &l); err != nil {
				return
			}
		}
	}
}

func (a *app) sendLog(ctx context.Context, conn *websocket.Conn, l *apitype.Log) error {
	b, err := json.Marshal(struct {
		Type string       `json:"type"`
		Log  *apitype.Log `json:"log"`
	}{"log", l})
	if err != nil {
		return fmt.Errorf("encode log: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, a.writeTimeout())
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, b)
}

// flowRunLogsDownload streams the run's logs as Prefect's CSV: a header row,
// then one row per log in timestamp order, written the way Python's
// csv.writer and str(datetime) write them.
func (a *app) flowRunLogsDownload(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	fr, err := a.store.FlowRunGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowRunNotFound
	}
	if err != nil {
		return fmt.Errorf("read flow run: %w", err)
	}
	// Read the first page before committing to a 200, so a storage failure
	// is still an error response.
	filter := &apitype.LogFilter{FlowRunID: &apitype.LogFilterFlowRunID{Any: []uuid.UUID{id}}}
	page := func(offset int) ([]apitype.Log, error) {
		return a.store.LogList(r.Context(), &storage.LogListParams{Filter: filter,
			Sort: apitype.LogSortTimestampAsc, Limit: logsDownloadPageSize, Offset: offset})
	}
	logs, err := page(0)
	if err != nil {
		return fmt.Errorf("list logs: %w", err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="flow-run-logs.csv"; filename*=UTF-8''`+
		pyQuote(fr.Name+"-logs.csv"))
	w.WriteHeader(http.StatusOK)
	var b strings.Builder
	writeCSVRow(&b, "timestamp", "level", "flow_run_id", "task_run_id", "message")
	for offset := 0; ; {
		for i := range logs {
			l := &logs[i]
			writeCSVRow(&b, pyDatetime(l.Timestamp), strconv.Itoa(l.Level), optUUIDString(l.FlowRunID),
				optUUIDString(l.TaskRunID), l.Message)
		}
		if _, err := w.Write([]byte(b.String())); err != nil {
			return nil // the client went away
		}
		b.Reset()
		if len(logs) < logsDownloadPageSize {
			return nil
		}
		offset += logsDownloadPageSize
		if logs, err = page(offset); err != nil {
			// Headers are sent: all that is left is to cut the body short.
			a.logger.Error("logs download failed", slog.Any("err", err))
			return nil
		}
	}
}

// writeCSVRow writes one row as Python's csv.writer (excel dialect,
// QUOTE_MINIMAL) does: a field is quoted only when it holds a comma, a
// quote, CR or LF; quotes are doubled; rows end with CRLF.
func writeCSVRow(b *strings.Builder, fields ...string) {
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		if strings.ContainsAny(f, ",\"\r\n") {
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(f, `"`, `""`))
			b.WriteByte('"')
		} else {
			b.WriteString(f)
		}
	}
	b.WriteString("\r\n")
}

// pyDatetime is str() of an aware UTC Python datetime: microseconds only
// when non-zero.
func pyDatetime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02 15:04:05") + "+00:00"
	}
	return t.Format("2006-01-02 15:04:05.000000") + "+00:00"
}

func optUUIDString(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// pyQuote is Python's urllib.parse.quote(s, safe=""): every byte outside
// letters, digits and "_.-~" is percent-encoded.
func pyQuote(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
