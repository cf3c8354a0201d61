package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// newLog builds a log row stamped at(n); created/updated are at(1000).
func newLog(name string, level, n int, flowRun, taskRun *uuid.UUID, msg string) apitype.Log {
	return apitype.Log{ID: uuid.Must(uuid.NewV7()), Created: at(1000), Updated: at(1000), Name: name, Level: level,
		Message: msg, Timestamp: at(n), FlowRunID: flowRun, TaskRunID: taskRun}
}

func listLogs(t *testing.T, s storage.Store, p *storage.LogListParams) []string {
	t.Helper()
	logs, err := s.LogList(context.Background(), p)
	require.NoError(t, err)
	out := make([]string, len(logs))
	for i, l := range logs {
		out[i] = l.Name
	}
	return out
}

func testLog(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()
	t.Run("Filter", func(t *testing.T) { testLogFilter(t, open(t)) })

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		fr, tr := uuid.New(), uuid.New()
		in := []apitype.Log{
			newLog("b", 20, 2, &fr, &tr, "ünïcode ✓ message\nwith newline"),
			newLog("a", 40, 1, &fr, nil, ""),
			newLog("c", 10, 3, nil, nil, "no run"),
		}
		require.NoError(t, s.LogCreateMany(ctx, in))
		got, err := s.LogList(ctx, &storage.LogListParams{})
		require.NoError(t, err)
		require.Len(t, got, 3)
		want := []apitype.Log{in[1], in[0], in[2]} // timestamp order
		for i := range want {
			w := want[i]
			w.Created, w.Updated, w.Timestamp = stored(w.Created), stored(w.Updated), stored(w.Timestamp)
			require.Equal(t, w, got[i])
		}
		require.NoError(t, s.LogCreateMany(ctx, nil), "an empty batch is a no-op")
	})

	t.Run("BatchIsAtomic", func(t *testing.T) {
		s := open(t)
		first := newLog("first", 20, 0, nil, nil, "m")
		require.NoError(t, s.LogCreateMany(ctx, []apitype.Log{first}))

		// A batch spanning several INSERT chunks whose last row repeats an
		// existing id writes nothing at all.
		n := 2*storage.LogInsertChunk + 7
		batch := make([]apitype.Log, n)
		for i := range batch {
			batch[i] = newLog(fmt.Sprintf("l%05d", i), 20, i+1, nil, nil, "m")
		}
		batch[n-1].ID = first.ID
		require.ErrorIs(t, s.LogCreateMany(ctx, batch), storage.ErrConflict)
		require.Equal(t, []string{"first"}, listLogs(t, s, &storage.LogListParams{}))

		// A duplicate id inside the batch fails it the same way.
		dup := []apitype.Log{newLog("x", 20, 1, nil, nil, "m"), newLog("y", 20, 2, nil, nil, "m")}
		dup[1].ID = dup[0].ID
		require.ErrorIs(t, s.LogCreateMany(ctx, dup), storage.ErrConflict)
		require.Equal(t, []string{"first"}, listLogs(t, s, &storage.LogListParams{}))

		// The same large batch with unique ids is written whole.
		batch[n-1].ID = uuid.Must(uuid.NewV7())
		require.NoError(t, s.LogCreateMany(ctx, batch))
		all, err := s.LogList(ctx, &storage.LogListParams{})
		require.NoError(t, err)
		require.Len(t, all, n+1)
	})
}

func testLogFilter(t *testing.T, s storage.Store) {
	ctx := context.Background()
	fr1, fr2, tr1, tr2 := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	require.NoError(t, s.LogCreateMany(ctx, []apitype.Log{
		newLog("prefect.flow_runs", 20, 0, &fr1, nil, "Beginning flow run"),
		newLog("prefect.task_runs", 10, 1, &fr1, &tr1, "debug: cache MISS"),
		newLog("prefect.task_runs", 40, 2, &fr1, &tr2, "Connection timeout after 5s"),
		newLog("prefect.flow_runs", 30, 3, &fr2, nil, "retrying 100% of tasks"),
		newLog("custom", 50, 4, &fr2, &tr1, `said "hello world" twice`),
		newLog("orphan", 20, 5, nil, nil, "no run at all"),
	}))
	// Names are not unique: identify rows by "level@second".
	key := func(logs []apitype.Log) []string {
		out := make([]string, len(logs))
		for i, l := range logs {
			out[i] = fmt.Sprintf("%d@%d", l.Level, int(l.Timestamp.Sub(stored(at(0))).Seconds()))
		}
		return out
	}
	all := []string{"20@0", "10@1", "40@2", "30@3", "50@4", "20@5"}
	text := func(q string) *apitype.LogFilter { return &apitype.LogFilter{Text: &apitype.LogFilterText{Query: q}} }

	for _, tc := range []struct {
		name   string
		filter *apitype.LogFilter
		want   []string
	}{
		{"Nil", nil, all},
		{"Empty", &apitype.LogFilter{}, all},
		{"LevelGe", &apitype.LogFilter{Level: &apitype.LogFilterLevel{Ge: ptr(30)}}, []string{"40@2", "30@3", "50@4"}},
		{"LevelLe", &apitype.LogFilter{Level: &apitype.LogFilterLevel{Le: ptr(20)}}, []string{"20@0", "10@1", "20@5"}},
		{"LevelRange", &apitype.LogFilter{Level: &apitype.LogFilterLevel{Ge: ptr(20), Le: ptr(30)}}, []string{"20@0", "30@3", "20@5"}},
		{"TimestampBeforeInclusive", &apitype.LogFilter{Timestamp: &apitype.LogFilterTimestamp{Before: ptr(at(1))}}, []string{"20@0", "10@1"}},
		{"TimestampAfterInclusive", &apitype.LogFilter{Timestamp: &apitype.LogFilterTimestamp{After: ptr(at(4))}}, []string{"50@4", "20@5"}},
		{"TimestampOtherZone", &apitype.LogFilter{Timestamp: &apitype.LogFilterTimestamp{
			After: ptr(at(2).In(time.FixedZone("Y", -7*3600))), Before: ptr(at(3).UTC())}}, []string{"40@2", "30@3"}},
		{"FlowRunAny", &apitype.LogFilter{FlowRunID: &apitype.LogFilterFlowRunID{Any: []uuid.UUID{fr2}}}, []string{"30@3", "50@4"}},
		{"FlowRunAnyEmpty", &apitype.LogFilter{FlowRunID: &apitype.LogFilterFlowRunID{Any: []uuid.UUID{}}}, []string{}},
		{"FlowRunNoCriteria", &apitype.LogFilter{FlowRunID: &apitype.LogFilterFlowRunID{}}, all},
		{"TaskRunAny", &apitype.LogFilter{TaskRunID: &apitype.LogFilterTaskRunID{Any: []uuid.UUID{tr1}}}, []string{"10@1", "50@4"}},
		{"TaskRunIsNull", &apitype.LogFilter{TaskRunID: &apitype.LogFilterTaskRunID{IsNull: ptr(true)}}, []string{"20@0", "30@3", "20@5"}},
		{"TaskRunIsNotNull", &apitype.LogFilter{TaskRunID: &apitype.LogFilterTaskRunID{IsNull: ptr(false)}}, []string{"10@1", "40@2", "50@4"}},
		{"TextCaseInsensitive", text("CONNECTION"), []string{"40@2"}},
		{"TextSearchesName", text("custom"), []string{"50@4"}},
		{"TextTermsAreAlternatives", text("timeout MISS"), []string{"10@1", "40@2"}},
		{"TextExclude", text("-prefect"), []string{"50@4", "20@5"}},
		{"TextExcludeBang", text("!run"), []string{"50@4"}},
		{"TextIncludeAndExclude", text("prefect -debug"), []string{"20@0", "40@2", "30@3"}},
		{"TextRequired", text("+flow_runs +retrying"), []string{"30@3"}},
		{"TextPhrase", text(`"hello world"`), []string{"50@4"}},
		{"TextPhraseNoPartialWords", text(`"world hello"`), []string{}},
		{"TextPercentIsLiteral", text("100%"), []string{"30@3"}},
		{"TextUnderscoreIsLiteral", text("w_rld"), []string{}},
		{"TextBlankIgnored", text("   "), all},
		{"TextPrefixAloneIgnored", text("- timeout"), []string{"40@2"}},
		{"And", &apitype.LogFilter{
			FlowRunID: &apitype.LogFilterFlowRunID{Any: []uuid.UUID{fr1}},
			Level:     &apitype.LogFilterLevel{Ge: ptr(20)},
		}, []string{"20@0", "40@2"}},
		{"Or", &apitype.LogFilter{
			Operator:  apitype.OperatorOr,
			FlowRunID: &apitype.LogFilterFlowRunID{Any: []uuid.UUID{fr2}},
			Level:     &apitype.LogFilterLevel{Le: ptr(10)},
		}, []string{"10@1", "30@3", "50@4"}},
		{"OrWithText", &apitype.LogFilter{
			Operator: apitype.OperatorOr,
			Level:    &apitype.LogFilterLevel{Ge: ptr(50)},
			Text:     &apitype.LogFilterText{Query: "orphan"},
		}, []string{"50@4", "20@5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.LogList(ctx, &storage.LogListParams{Filter: tc.filter})
			require.NoError(t, err)
			require.Equal(t, tc.want, key(got))
		})
	}

	t.Run("SortAndPage", func(t *testing.T) {
		got, err := s.LogList(ctx, &storage.LogListParams{Sort: apitype.LogSortTimestampDesc})
		require.NoError(t, err)
		require.Equal(t, []string{"20@5", "50@4", "30@3", "40@2", "10@1", "20@0"}, key(got))
		got, err = s.LogList(ctx, &storage.LogListParams{Sort: apitype.LogSortTimestampAsc, Limit: 2, Offset: 3})
		require.NoError(t, err)
		require.Equal(t, []string{"30@3", "50@4"}, key(got))
		_, err = s.LogList(ctx, &storage.LogListParams{Sort: "bogus"})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
		_, err = s.LogList(ctx, &storage.LogListParams{Filter: &apitype.LogFilter{Operator: "xor_"}})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})

	t.Run("EqualTimestampsKeepInsertOrder", func(t *testing.T) {
		// Rows at one instant, later than the others.
		batch := []apitype.Log{newLog("t1", 1, 99, nil, nil, "tie"), newLog("t2", 1, 99, nil, nil, "tie"), newLog("t3", 1, 99, nil, nil, "tie")}
		require.NoError(t, s.LogCreateMany(ctx, batch))
		f := &apitype.LogFilter{Level: &apitype.LogFilterLevel{Le: ptr(1)}}
		require.Equal(t, []string{"t1", "t2", "t3"}, listLogs(t, s, &storage.LogListParams{Filter: f}))
		require.Equal(t, []string{"t3", "t2", "t1"}, listLogs(t, s, &storage.LogListParams{Filter: f, Sort: apitype.LogSortTimestampDesc}))
	})
}
