package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/storage"
)

// filterMessageTimeout bounds the wait for /events/out's filter message.
const filterMessageTimeout = 60 * time.Second

// defaultWriteTimeout bounds one frame write when no ping timeout is set.
const defaultWriteTimeout = 20 * time.Second

func (a *app) eventSocketRoutes(ws func(path string, h http.HandlerFunc)) {
	ws("/events/in", a.eventsIn)
	ws("/events/out", a.eventsOut)
}

func (a *app) acceptSocket(w http.ResponseWriter, r *http.Request) (*websocket.Conn, bool) {
	conn, err := AcceptPrefectSocket(w, r, a.socketOptions())
	if err != nil {
		if !errors.Is(err, ErrSocketRejected) {
			a.logger.Warn("websocket accept failed", slog.String("path", r.URL.Path), slog.Any("err", err))
		}
		return nil, false
	}
	return conn, true
}

// keepalive pings the client every server.api.websocket_ping_interval and
// closes the connection when a pong does not come back within the ping
// timeout. It needs a concurrent reader (coder/websocket answers pongs
// inside Read) and returns when ctx ends.
func (a *app) keepalive(ctx context.Context, conn *websocket.Conn) {
	interval := a.settings.WSPingInterval
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, a.writeTimeout())
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Info("websocket ping failed, closing", slog.Any("err", err))
				conn.Close(websocket.StatusGoingAway, "ping timeout")
			}
			return
		}
	}
}

func (a *app) writeTimeout() time.Duration {
	if a.settings.WSPingTimeout > 0 {
		return a.settings.WSPingTimeout
	}
	return defaultWriteTimeout
}

// eventsIn is /events/in: after the handshake every text frame is one
// event, published as received. There is no reply per event; the client
// resends unacknowledged events after a reconnect, which storage absorbs
// (idempotent on id). An invalid event is logged and skipped rather than
// closing the socket: the client would resend it after reconnecting,
// forever. Binary frames close the socket (1003).
func (a *app) eventsIn(w http.ResponseWriter, r *http.Request) {
	conn, ok := a.acceptSocket(w, r)
	if !ok {
		return
	}
	defer conn.CloseNow()
	conn.SetReadLimit(int64(a.events.Limits().MaxSize()) + 1024)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go a.keepalive(ctx, conn)
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return // closed by the client, oversize (1009), ping timeout or shutdown
		}
		if typ != websocket.MessageText {
			conn.Close(websocket.StatusUnsupportedData, "Expected text frames")
			return
		}
		var e apitype.Event
		msg := ""
		if err := json.Unmarshal(data, &e); err != nil {
			msg = err.Error()
		} else {
			msg = events.Validate(&e, a.events.Limits())
		}
		if msg != "" {
			a.logger.Warn("invalid event skipped", slog.String("reason", msg))
			continue
		}
		received := []apitype.ReceivedEvent{{Event: e, Received: a.now().UTC()}}
		if err := a.events.Bus().Publish(ctx, received); err != nil {
			a.logger.Error("publish event failed", slog.Any("err", err))
			conn.Close(websocket.StatusTryAgainLater, "Event ingest unavailable")
			return
		}
	}
}

// eventsOut is /events/out: the client sends {"type":"filter","filter":...,
// "backfill":true}; the server subscribes to the live stream first, then
// (after flushing the persister, so everything published before the
// subscription is in storage) sends the stored matches from the last
// server.events.maximum_websocket_backfill in occurred order, then the live
// events, skipping those the backfill already sent. Frames are
// {"type":"event","event":...}. A subscriber that falls behind is closed with
// 1013 and, like any Prefect client, reconnects and backfills.
func (a *app) eventsOut(w http.ResponseWriter, r *http.Request) {
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
		Type     string          `json:"type"`
		Filter   json.RawMessage `json:"filter"`
		Backfill *bool           `json:"backfill"`
	}
	if typ != websocket.MessageText || json.Unmarshal(data, &msg) != nil || msg.Type != "filter" {
		conn.Close(websocket.StatusProtocolError, "Expected 'filter' message")
		return
	}
	filter, err := decodeStreamFilter(msg.Filter)
	if err != nil {
		conn.Close(websocket.StatusProtocolError, truncateReason("Invalid filter: "+err.Error()))
		return
	}
	opts := a.events.Stream()
	now := a.now().UTC()
	if earliest := now.Add(-opts.MaxBackfill); filter.Occurred.Since == nil || filter.Occurred.Since.Before(earliest) {
		filter.Occurred.Since = &earliest
	}
	filter.Order = apitype.EventOrderAsc

	// From here the client only sends control frames; CloseRead reads them
	// (answering pings, noticing the close) and cancels ctx on disconnect.
	ctx = conn.CloseRead(ctx)
	go a.keepalive(ctx, conn)

	sub, err := a.events.Bus().Subscribe(ctx, events.SubscribeOptions{Filter: filter, Buffer: opts.Buffer})
	if err != nil {
		conn.Close(websocket.StatusTryAgainLater, "Event stream unavailable")
		return
	}
	defer sub.Close()

	var seen map[uuid.UUID]struct{}
	if msg.Backfill == nil || *msg.Backfill {
		seen, err = a.backfill(ctx, conn, filter, now, opts.BackfillPageSize)
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Warn("events backfill failed", slog.Any("err", err))
				conn.Close(websocket.StatusInternalError, "Backfill failed")
			}
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.Events():
			if !ok {
				if errors.Is(sub.Err(), events.ErrSlowSubscriber) {
					conn.Close(websocket.StatusTryAgainLater, "Subscriber fell behind")
				} else {
					conn.Close(websocket.StatusGoingAway, "")
				}
				return
			}
			if _, dup := seen[e.ID]; dup {
				delete(seen, e.ID)
				continue
			}
			if err := a.sendEvent(ctx, conn, &e); err != nil {
				return
			}
		}
	}
}

// decodeStreamFilter parses the subscription filter; an absent until stays
// absent so the live stream is not cut off at subscription time.
func decodeStreamFilter(raw json.RawMessage) (*apitype.EventFilter, error) {
	f := &apitype.EventFilter{}
	if present(raw) {
		if err := json.Unmarshal(raw, f); err != nil {
			return nil, err
		}
	}
	if err := checkEventFilter(nil, nil, f); err != nil {
		return nil, errors.New("invalid order or text query")
	}
	if f.Occurred == nil {
		f.Occurred = &apitype.EventOccurredFilter{}
	} else {
		occ := *f.Occurred
		f.Occurred = &occ
	}
	return f, nil
}

// backfill sends the stored matches page by page and returns their ids.
func (a *app) backfill(ctx context.Context, conn *websocket.Conn, filter *apitype.EventFilter, now time.Time, pageSize int) (map[uuid.UUID]struct{}, error) {
	if err := a.events.Flush(ctx); err != nil {
		return nil, fmt.Errorf("flush events: %w", err)
	}
	query := events.WithDefaults(filter, now)
	if filter.Occurred.Until == nil {
		// Everything stored so far: the live stream takes over from here.
		query.Occurred.Until = nil
	}
	seen := map[uuid.UUID]struct{}{}
	for offset := 0; ; offset += pageSize {
		page, err := a.store.EventList(ctx, &storage.EventListParams{Filter: query, Limit: pageSize, Offset: offset})
		if err != nil {
			return nil, err
		}
		for i := range page {
			seen[page[i].ID] = struct{}{}
			if err := a.sendEvent(ctx, conn, &page[i]); err != nil {
				return nil, err
			}
		}
		if len(page) < pageSize {
			return seen, nil
		}
	}
}

func (a *app) sendEvent(ctx context.Context, conn *websocket.Conn, e *apitype.ReceivedEvent) error {
	b, err := json.Marshal(struct {
		Type  string                 `json:"type"`
		Event *apitype.ReceivedEvent `json:"event"`
	}{"event", e})
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, a.writeTimeout())
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, b)
}

// truncateReason keeps a close reason within the 123 bytes a close frame
// allows.
func truncateReason(s string) string {
	if len(s) <= 120 {
		return s
	}
	return s[:120]
}
