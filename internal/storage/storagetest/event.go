package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// mkEvent builds a received event occurring at(n) and received a second later.
func mkEvent(name, resourceID string, n int, related ...apitype.Resource) apitype.ReceivedEvent {
	return apitype.ReceivedEvent{
		Event: apitype.Event{
			ID: uuid.New(), Occurred: at(n), Event: name,
			Resource: apitype.Resource{apitype.LabelResourceID: resourceID},
			Related:  related, Payload: json.RawMessage(`{}`),
		},
		Received: at(n + 1),
	}
}

// rel is a related resource; labels are extra name/value pairs.
func rel(id, role string, labels ...string) apitype.Resource {
	r := apitype.Resource{apitype.LabelResourceID: id, apitype.LabelResourceRole: role}
	for i := 0; i+1 < len(labels); i += 2 {
		r[labels[i]] = labels[i+1]
	}
	return r
}

func eventIDs(es []apitype.ReceivedEvent) []uuid.UUID {
	return ids(es, func(e apitype.ReceivedEvent) uuid.UUID { return e.ID })
}

func insertEvents(t *testing.T, s storage.Store, es ...apitype.ReceivedEvent) {
	t.Helper()
	n, err := s.EventInsert(context.Background(), es, at(100))
	require.NoError(t, err)
	require.Equal(t, len(es), n)
}

// window is an occurred filter covering every fixture.
func window() *apitype.EventOccurredFilter {
	return &apitype.EventOccurredFilter{Since: ptr(at(-100000)), Until: ptr(at(100000))}
}

func testEvent(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("RoundTripAndIdempotency", func(t *testing.T) {
		s := open(t)
		follows := uuid.New()
		e := mkEvent("prefect.task-run.Completed", "prefect.task-run.1", 0,
			rel("prefect.flow-run.9", "flow-run", "prefect.resource.name", "calm-otter"))
		e.Resource["prefect.state-type"] = "COMPLETED"
		e.Payload = json.RawMessage(`{"b": [1, 2.50], "a": "ünï"}`)
		e.Follows = &follows
		other := mkEvent("x", "r", 1)
		// A duplicate inside the batch and a replay of the batch are skipped.
		n, err := s.EventInsert(ctx, []apitype.ReceivedEvent{e, other, e}, at(5))
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = s.EventInsert(ctx, []apitype.ReceivedEvent{other, e}, at(6))
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = s.EventInsert(ctx, nil, at(6))
		require.NoError(t, err)
		require.Zero(t, n)

		got, err := s.EventList(ctx, &storage.EventListParams{Filter: &apitype.EventFilter{ID: &apitype.EventIDFilter{ID: []uuid.UUID{e.ID}}}})
		require.NoError(t, err)
		require.Len(t, got, 1)
		want := e
		want.Occurred, want.Received = stored(e.Occurred), stored(e.Received)
		want.Payload = json.RawMessage(`{"b":[1,2.50],"a":"ünï"}`)
		require.Equal(t, want, got[0])
		require.Equal(t, time.UTC, got[0].Occurred.Location())

		total, err := s.EventCount(ctx, nil)
		require.NoError(t, err)
		require.EqualValues(t, 2, total)
		// The duplicate did not add resource rows either: related matches once.
		total, err = s.EventCount(ctx, &apitype.EventFilter{Related: apitype.EventRelatedFilters{{ID: []string{"prefect.flow-run.9"}}}})
		require.NoError(t, err)
		require.EqualValues(t, 1, total)
	})

	t.Run("OrderAndPaging", func(t *testing.T) {
		s := open(t)
		var es []apitype.ReceivedEvent
		for i := range 5 {
			es = append(es, mkEvent("e", fmt.Sprintf("r%d", i), i))
		}
		tie := mkEvent("e", "tie", 2) // same occurred as es[2]: id breaks the tie
		insertEvents(t, s, append(es, tie)...)
		asc := []uuid.UUID{es[0].ID, es[1].ID, es[2].ID, tie.ID, es[3].ID, es[4].ID}
		if tie.ID.String() < es[2].ID.String() {
			asc[2], asc[3] = tie.ID, es[2].ID
		}
		all, err := s.EventList(ctx, &storage.EventListParams{Filter: &apitype.EventFilter{Order: apitype.EventOrderAsc}})
		require.NoError(t, err)
		require.Equal(t, asc, eventIDs(all))
		desc, err := s.EventList(ctx, &storage.EventListParams{Filter: &apitype.EventFilter{}})
		require.NoError(t, err)
		for i, id := range eventIDs(desc) {
			require.Equal(t, asc[len(asc)-1-i], id)
		}
		var paged []uuid.UUID
		for off := 0; off < 6; off += 4 {
			page, err := s.EventList(ctx, &storage.EventListParams{Filter: &apitype.EventFilter{Order: apitype.EventOrderAsc}, Limit: 4, Offset: off})
			require.NoError(t, err)
			paged = append(paged, eventIDs(page)...)
		}
		require.Equal(t, asc, paged)
		_, err = s.EventList(ctx, &storage.EventListParams{Filter: &apitype.EventFilter{Order: "SIDEWAYS"}})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})

	t.Run("Filters", func(t *testing.T) { testEventFilters(t, open(t)) })
	t.Run("Distinct", func(t *testing.T) {
		s := open(t)
		a1, b1, a2, b2 := mkEvent("e", "a", 0), mkEvent("e", "b", 1), mkEvent("e", "a", 2), mkEvent("e", "b", 3)
		insertEvents(t, s, a1, b1, a2, b2)
		f := &apitype.EventFilter{Resource: &apitype.EventResourceFilter{Distinct: true}}
		got, err := s.EventList(ctx, &storage.EventListParams{Filter: f})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{b2.ID, a2.ID}, eventIDs(got))
		f.Order = apitype.EventOrderAsc
		got, err = s.EventList(ctx, &storage.EventListParams{Filter: f})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{a1.ID, b1.ID}, eventIDs(got))
		n, err := s.EventCount(ctx, f)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
	})
	t.Run("CountBy", func(t *testing.T) { testEventCountBy(t, open(t)) })
}

func testEventFilters(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flowRun := mkEvent("prefect.flow-run.Running", "prefect.flow-run.1", 0,
		rel("prefect.flow.7", "flow", "prefect.resource.name", "etl"),
		rel("prefect.work-pool.p1", "work-pool", "prefect.work-pool.type", "process"),
		rel("prefect.tag.nightly", "tag"))
	flowRun.Resource["prefect.resource.name"] = "calm-otter"
	flowRun.Resource["prefect.state-type"] = "RUNNING"
	taskRun := mkEvent("prefect.task-run.Completed", "prefect.task-run.2", 10,
		rel("prefect.flow-run.1", "flow-run"), rel("prefect.tag.nightly", "tag"))
	taskRun.Resource["prefect.state-type"] = "COMPLETED"
	taskRun.Payload = json.RawMessage(`{"validated_state": {"message": "All Done"}}`)
	heartbeat := mkEvent("prefect.flow-run.heartbeat", "prefect.flow-run.1", 20)
	worker := mkEvent("prefect.worker.started", "prefect.worker.process.w_1", 30,
		rel("prefect.work-pool.p2", "work-pool", "prefect.work-pool.type", "docker"))
	worker.Resource["prefect.resource.name"] = "w_1"
	insertEvents(t, s, flowRun, taskRun, heartbeat, worker)

	all := []uuid.UUID{flowRun.ID, taskRun.ID, heartbeat.ID, worker.ID}
	none := []uuid.UUID{}
	spec := func(kv ...any) apitype.ResourceSpecification {
		out := apitype.ResourceSpecification{}
		for i := 0; i+1 < len(kv); i += 2 {
			switch v := kv[i+1].(type) {
			case string:
				out[kv[i].(string)] = apitype.LabelPatterns{v}
			case []string:
				out[kv[i].(string)] = v
			}
		}
		return out
	}
	for name, tc := range map[string]struct {
		f    apitype.EventFilter
		want []uuid.UUID
	}{
		"none":                  {apitype.EventFilter{}, all},
		"occurred since":        {apitype.EventFilter{Occurred: &apitype.EventOccurredFilter{Since: ptr(at(10))}}, []uuid.UUID{taskRun.ID, heartbeat.ID, worker.ID}},
		"occurred until incl":   {apitype.EventFilter{Occurred: &apitype.EventOccurredFilter{Until: ptr(at(10))}}, []uuid.UUID{flowRun.ID, taskRun.ID}},
		"occurred window":       {apitype.EventFilter{Occurred: &apitype.EventOccurredFilter{Since: ptr(at(5)), Until: ptr(at(25))}}, []uuid.UUID{taskRun.ID, heartbeat.ID}},
		"event prefix":          {apitype.EventFilter{Event: &apitype.EventNameFilter{Prefix: []string{"prefect.flow-run.", "prefect.worker."}}}, []uuid.UUID{flowRun.ID, heartbeat.ID, worker.ID}},
		"event prefix literal%": {apitype.EventFilter{Event: &apitype.EventNameFilter{Prefix: []string{"prefect.%"}}}, none},
		"event prefix literal_": {apitype.EventFilter{Event: &apitype.EventNameFilter{Prefix: []string{"prefect_"}}}, none},
		"event prefix literal*": {apitype.EventFilter{Event: &apitype.EventNameFilter{Prefix: []string{"prefect.*"}}}, none},
		"event prefix case":     {apitype.EventFilter{Event: &apitype.EventNameFilter{Prefix: []string{"Prefect."}}}, none},
		"event exclude prefix":  {apitype.EventFilter{Event: &apitype.EventNameFilter{ExcludePrefix: []string{"prefect.flow-run.", "prefect.task-run."}}}, []uuid.UUID{worker.ID}},
		"event name":            {apitype.EventFilter{Event: &apitype.EventNameFilter{Name: []string{"prefect.flow-run.heartbeat", "nope"}}}, []uuid.UUID{heartbeat.ID}},
		"event exclude name":    {apitype.EventFilter{Event: &apitype.EventNameFilter{Prefix: []string{"prefect.flow-run."}, ExcludeName: []string{"prefect.flow-run.heartbeat"}}}, []uuid.UUID{flowRun.ID}},
		"resource id":           {apitype.EventFilter{Resource: &apitype.EventResourceFilter{ID: []string{"prefect.flow-run.1"}}}, []uuid.UUID{flowRun.ID, heartbeat.ID}},
		"resource id prefix":    {apitype.EventFilter{Resource: &apitype.EventResourceFilter{IDPrefix: []string{"prefect.task-run.", "prefect.worker."}}}, []uuid.UUID{taskRun.ID, worker.ID}},
		"resource label":        {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.state-type", "RUNNING")}}, []uuid.UUID{flowRun.ID}},
		"resource label glob":   {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.resource.id", "prefect.*-run.*")}}, []uuid.UUID{flowRun.ID, taskRun.ID, heartbeat.ID}},
		"resource label ?":      {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.resource.id", "prefect.flow-run.?")}}, []uuid.UUID{flowRun.ID, heartbeat.ID}},
		"resource label _ lit":  {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.resource.name", "w?1")}}, []uuid.UUID{worker.ID}},
		"resource label _ no":   {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.resource.name", "w_?")}}, []uuid.UUID{worker.ID}},
		"resource label neg":    {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.state-type", "!RUNNING")}}, []uuid.UUID{taskRun.ID}},
		"resource label any of": {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.state-type", []string{"RUNNING", "COMPLETED"})}}, []uuid.UUID{flowRun.ID, taskRun.ID}},
		"resource label empty":  {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.state-type", []string{})}}, none},
		"resource label case":   {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.state-type", "running")}}, none},
		"resource two labels":   {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.resource.id", "prefect.flow-run.*", "prefect.resource.name", "calm-*")}}, []uuid.UUID{flowRun.ID}},
		"resource not related":  {apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.resource.id", "prefect.tag.*")}}, none},
		"related id":            {apitype.EventFilter{Related: apitype.EventRelatedFilters{{ID: []string{"prefect.flow-run.1"}}}}, []uuid.UUID{taskRun.ID}},
		"related role":          {apitype.EventFilter{Related: apitype.EventRelatedFilters{{Role: []string{"work-pool"}}}}, []uuid.UUID{flowRun.ID, worker.ID}},
		"related in roles":      {apitype.EventFilter{Related: apitype.EventRelatedFilters{{ResourcesInRoles: [][2]string{{"prefect.tag.nightly", "tag"}, {"prefect.flow.7", "nope"}}}}}, []uuid.UUID{flowRun.ID, taskRun.ID}},
		"related labels":        {apitype.EventFilter{Related: apitype.EventRelatedFilters{{Labels: spec("prefect.resource.role", "work-pool", "prefect.work-pool.type", "!docker")}}}, []uuid.UUID{flowRun.ID}},
		"related label id glob": {apitype.EventFilter{Related: apitype.EventRelatedFilters{{Labels: spec("prefect.resource.id", "prefect.work-pool.*")}}}, []uuid.UUID{flowRun.ID, worker.ID}},
		"related not primary":   {apitype.EventFilter{Related: apitype.EventRelatedFilters{{ID: []string{"prefect.task-run.2"}}}}, none},
		"related list is AND":   {apitype.EventFilter{Related: apitype.EventRelatedFilters{{Role: []string{"tag"}}, {Role: []string{"flow"}}}}, []uuid.UUID{flowRun.ID}},
		"related empty ignored": {apitype.EventFilter{Related: apitype.EventRelatedFilters{{}}}, all},
		"any resource id":       {apitype.EventFilter{AnyResource: apitype.EventAnyResourceFilters{{ID: []string{"prefect.flow-run.1"}}}}, []uuid.UUID{flowRun.ID, taskRun.ID, heartbeat.ID}},
		"any resource prefix":   {apitype.EventFilter{AnyResource: apitype.EventAnyResourceFilters{{IDPrefix: []string{"prefect.work-pool."}}}}, []uuid.UUID{flowRun.ID, worker.ID}},
		"any resource labels":   {apitype.EventFilter{AnyResource: apitype.EventAnyResourceFilters{{Labels: spec("prefect.resource.name", "etl")}}}, []uuid.UUID{flowRun.ID}},
		"any resource same res": {apitype.EventFilter{AnyResource: apitype.EventAnyResourceFilters{{IDPrefix: []string{"prefect.tag."}, Labels: spec("prefect.resource.name", "*")}}}, none},
		"id":                    {apitype.EventFilter{ID: &apitype.EventIDFilter{ID: []uuid.UUID{worker.ID, uuid.New()}}}, []uuid.UUID{worker.ID}},
		"id empty ignored":      {apitype.EventFilter{ID: &apitype.EventIDFilter{ID: []uuid.UUID{}}}, all},
		"text include or":       {apitype.EventFilter{Text: &apitype.EventTextFilter{Query: "HEARTBEAT w_1"}}, []uuid.UUID{heartbeat.ID, worker.ID}},
		"text payload phrase":   {apitype.EventFilter{Text: &apitype.EventTextFilter{Query: `"all done"`}}, []uuid.UUID{taskRun.ID}},
		"text exclude":          {apitype.EventFilter{Text: &apitype.EventTextFilter{Query: "prefect -nightly !docker"}}, []uuid.UUID{heartbeat.ID}},
		"text required":         {apitype.EventFilter{Text: &apitype.EventTextFilter{Query: "+nightly +etl"}}, []uuid.UUID{flowRun.ID}},
		"text literal %":        {apitype.EventFilter{Text: &apitype.EventTextFilter{Query: "%"}}, none},
		"text blank":            {apitype.EventFilter{Text: &apitype.EventTextFilter{Query: "  "}}, all},
		"combined":              {apitype.EventFilter{Occurred: window(), Event: &apitype.EventNameFilter{Prefix: []string{"prefect."}}, Related: apitype.EventRelatedFilters{{Role: []string{"tag"}}}, Text: &apitype.EventTextFilter{Query: "completed"}}, []uuid.UUID{taskRun.ID}},
	} {
		t.Run(name, func(t *testing.T) {
			f := tc.f
			f.Order = apitype.EventOrderAsc
			got, err := s.EventList(ctx, &storage.EventListParams{Filter: &f})
			require.NoError(t, err)
			require.Equal(t, tc.want, eventIDs(got))
			n, err := s.EventCount(ctx, &f)
			require.NoError(t, err)
			require.EqualValues(t, len(tc.want), n)
		})
	}
}

func testEventCountBy(t *testing.T, s storage.Store) {
	ctx := context.Background()
	// baseTime is 2025-03-04T04:06:07.123Z; hour buckets from the pivot.
	a := mkEvent("prefect.a", "r.1", 0)
	a.Resource["prefect.resource.name"] = "old-name"
	b := mkEvent("prefect.b", "r.1", 60)
	b.Resource["prefect.resource.name"] = "new-name"
	c := mkEvent("prefect.a", "r.2", 3600)
	c.Resource["prefect.name"] = "second"
	d := mkEvent("prefect.a", "r.3", 7200)
	insertEvents(t, s, a, b, c, d)
	f := &apitype.EventFilter{Occurred: window()}

	got, err := s.EventCountBy(ctx, &storage.EventCountByParams{Filter: f, Countable: apitype.CountableEvent})
	require.NoError(t, err)
	require.Equal(t, []apitype.EventCount{
		{Value: "prefect.a", Label: "prefect.a", Count: 3, StartTime: stored(at(0)), EndTime: stored(at(7200))},
		{Value: "prefect.b", Label: "prefect.b", Count: 1, StartTime: stored(at(60)), EndTime: stored(at(60))},
	}, got)

	got, err = s.EventCountBy(ctx, &storage.EventCountByParams{Filter: f, Countable: apitype.CountableResource})
	require.NoError(t, err)
	require.Equal(t, []apitype.EventCount{
		{Value: "r.1", Label: "new-name", Count: 2, StartTime: stored(at(0)), EndTime: stored(at(60))},
		{Value: "r.3", Label: "r.3", Count: 1, StartTime: stored(at(7200)), EndTime: stored(at(7200))},
		{Value: "r.2", Label: "second", Count: 1, StartTime: stored(at(3600)), EndTime: stored(at(3600))},
	}, got)

	got, err = s.EventCountBy(ctx, &storage.EventCountByParams{Filter: f, Countable: apitype.CountableTime, BucketSeconds: 3600})
	require.NoError(t, err)
	hour := int64(at(0).Sub(storage.EventCountPivot) / time.Hour)
	require.Equal(t, []apitype.EventCount{
		{Value: fmt.Sprint(hour), Count: 2, StartTime: stored(at(0)), EndTime: stored(at(60))},
		{Value: fmt.Sprint(hour + 1), Count: 1, StartTime: stored(at(3600)), EndTime: stored(at(3600))},
		{Value: fmt.Sprint(hour + 2), Count: 1, StartTime: stored(at(7200)), EndTime: stored(at(7200))},
	}, got)

	got, err = s.EventCountBy(ctx, &storage.EventCountByParams{Filter: &apitype.EventFilter{Event: &apitype.EventNameFilter{Name: []string{"prefect.b"}}}, Countable: apitype.CountableEvent})
	require.NoError(t, err)
	require.Len(t, got, 1)
	_, err = s.EventCountBy(ctx, &storage.EventCountByParams{Filter: f, Countable: "planet"})
	require.ErrorIs(t, err, storage.ErrInvalidFilter)
}
