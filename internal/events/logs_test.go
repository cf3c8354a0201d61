package events

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func TestMatchLog(t *testing.T) {
	fr, tr := uuid.New(), uuid.New()
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := apitype.Log{Level: 20, Timestamp: ts, FlowRunID: &fr, TaskRunID: &tr}
	ptr := func(i int) *int { return &i }
	tm := func(d time.Duration) *time.Time { x := ts.Add(d); return &x }
	yes, no := true, false
	cases := []struct {
		name string
		f    *apitype.LogFilter
		want bool
	}{
		{"nil", nil, true},
		{"empty", &apitype.LogFilter{}, true},
		{"level ge equal", &apitype.LogFilter{Level: &apitype.LogFilterLevel{Ge: ptr(20)}}, true},
		{"level ge above", &apitype.LogFilter{Level: &apitype.LogFilterLevel{Ge: ptr(21)}}, false},
		{"level le below", &apitype.LogFilter{Level: &apitype.LogFilterLevel{Le: ptr(19)}}, false},
		{"before inclusive", &apitype.LogFilter{Timestamp: &apitype.LogFilterTimestamp{Before: tm(0)}}, true},
		{"before earlier", &apitype.LogFilter{Timestamp: &apitype.LogFilterTimestamp{Before: tm(-time.Second)}}, false},
		{"after later", &apitype.LogFilter{Timestamp: &apitype.LogFilterTimestamp{After: tm(time.Second)}}, false},
		{"flow run any", &apitype.LogFilter{FlowRunID: &apitype.LogFilterFlowRunID{Any: []uuid.UUID{uuid.New(), fr}}}, true},
		{"flow run other", &apitype.LogFilter{FlowRunID: &apitype.LogFilterFlowRunID{Any: []uuid.UUID{uuid.New()}}}, false},
		{"flow run empty any", &apitype.LogFilter{FlowRunID: &apitype.LogFilterFlowRunID{Any: []uuid.UUID{}}}, false},
		{"task run any", &apitype.LogFilter{TaskRunID: &apitype.LogFilterTaskRunID{Any: []uuid.UUID{tr}}}, true},
		{"task run is null", &apitype.LogFilter{TaskRunID: &apitype.LogFilterTaskRunID{IsNull: &yes}}, false},
		{"task run not null", &apitype.LogFilter{TaskRunID: &apitype.LogFilterTaskRunID{IsNull: &no}}, true},
		{"text ignored", &apitype.LogFilter{Text: &apitype.LogFilterText{Query: "nothing like it"}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { require.Equal(t, c.want, MatchLog(&l, c.f)) })
	}
	orphan := apitype.Log{Level: 20, Timestamp: ts}
	require.False(t, MatchLog(&orphan, &apitype.LogFilter{FlowRunID: &apitype.LogFilterFlowRunID{Any: []uuid.UUID{fr}}}))
	require.True(t, MatchLog(&orphan, &apitype.LogFilter{TaskRunID: &apitype.LogFilterTaskRunID{IsNull: &yes}}))
}

func TestMemoryLogBus(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryLogBus()
	ge30 := 30
	all, err := b.SubscribeLogs(nil, 0)
	require.NoError(t, err)
	errorsOnly, err := b.SubscribeLogs(&apitype.LogFilter{Level: &apitype.LogFilterLevel{Ge: &ge30}}, 1)
	require.NoError(t, err)

	logs := []apitype.Log{{ID: uuid.New(), Level: 20}, {ID: uuid.New(), Level: 40}, {ID: uuid.New(), Level: 50}}
	require.NoError(t, b.PublishLogs(ctx, logs))
	for _, want := range logs {
		require.Equal(t, want.ID, (<-all.Logs()).ID)
	}
	// Buffer 1: the second matching log is dropped, never blocking Publish.
	require.Equal(t, logs[1].ID, (<-errorsOnly.Logs()).ID)
	select {
	case l := <-errorsOnly.Logs():
		t.Fatalf("unexpected log %v: the full buffer should have dropped it", l.ID)
	default:
	}

	errorsOnly.Close()
	errorsOnly.Close() // idempotent
	_, open := <-errorsOnly.Logs()
	require.False(t, open)
	require.NoError(t, b.PublishLogs(ctx, logs[:1]))
	require.Equal(t, logs[0].ID, (<-all.Logs()).ID)

	b.Close()
	_, open = <-all.Logs()
	require.False(t, open)
	all.Close() // after the bus closed: no double close
	require.ErrorIs(t, b.PublishLogs(ctx, logs), ErrBusClosed)
	_, err = b.SubscribeLogs(nil, 0)
	require.ErrorIs(t, err, ErrBusClosed)
}
