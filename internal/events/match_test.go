package events

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testEvent(name, resourceID string, related ...apitype.Resource) apitype.ReceivedEvent {
	return apitype.ReceivedEvent{Event: apitype.Event{
		ID: uuid.New(), Occurred: t0, Event: name,
		Resource: apitype.Resource{apitype.LabelResourceID: resourceID},
		Related:  related, Payload: json.RawMessage(`{"note":"All Done"}`),
	}, Received: t0}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, value string
		want           bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"prefect.flow-run.*", "prefect.flow-run.1", true},
		{"prefect.flow-run.*", "prefect.task-run.1", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"*.Completed", "prefect.task-run.Completed", true},
		{"[ab]", "a", false}, // classes are literal, as in Prefect's SQL
		{"[ab]", "[ab]", true},
		{"é?", "éa", true},
		{"CASE", "case", false},
	} {
		require.Equal(t, tc.want, glob(tc.pattern, tc.value), "%q vs %q", tc.pattern, tc.value)
	}
	require.True(t, MatchLabel("!RUNNING", "COMPLETED"))
	require.False(t, MatchLabel("!RUNNING", "RUNNING"))
	require.False(t, MatchLabel("!prefect.*", "prefect.x"))
}

func TestMatches(t *testing.T) {
	e := testEvent("prefect.flow-run.Running", "prefect.flow-run.1",
		apitype.Resource{apitype.LabelResourceID: "prefect.flow.7", apitype.LabelResourceRole: "flow", "prefect.resource.name": "etl"},
		apitype.Resource{apitype.LabelResourceID: "prefect.work-pool.p", apitype.LabelResourceRole: "work-pool", "prefect.work-pool.type": "process"})
	e.Resource["prefect.state-type"] = "RUNNING"
	spec := func(label string, patterns ...string) apitype.ResourceSpecification {
		return apitype.ResourceSpecification{label: patterns}
	}
	before, after := t0.Add(-time.Second), t0.Add(time.Second)
	for name, tc := range map[string]struct {
		f    *apitype.EventFilter
		want bool
	}{
		"nil":                {nil, true},
		"empty":              {&apitype.EventFilter{}, true},
		"occurred in":        {&apitype.EventFilter{Occurred: &apitype.EventOccurredFilter{Since: &t0, Until: &t0}}, true},
		"occurred after":     {&apitype.EventFilter{Occurred: &apitype.EventOccurredFilter{Since: &after}}, false},
		"occurred before":    {&apitype.EventFilter{Occurred: &apitype.EventOccurredFilter{Until: &before}}, false},
		"prefix":             {&apitype.EventFilter{Event: &apitype.EventNameFilter{Prefix: []string{"x.", "prefect.flow-run."}}}, true},
		"prefix miss":        {&apitype.EventFilter{Event: &apitype.EventNameFilter{Prefix: []string{"prefect.task-run."}}}, false},
		"exclude prefix":     {&apitype.EventFilter{Event: &apitype.EventNameFilter{ExcludePrefix: []string{"prefect.flow-run."}}}, false},
		"name":               {&apitype.EventFilter{Event: &apitype.EventNameFilter{Name: []string{"prefect.flow-run.Running"}}}, true},
		"exclude name":       {&apitype.EventFilter{Event: &apitype.EventNameFilter{ExcludeName: []string{"prefect.flow-run.Running"}}}, false},
		"resource id":        {&apitype.EventFilter{Resource: &apitype.EventResourceFilter{ID: []string{"prefect.flow-run.1"}}}, true},
		"resource id miss":   {&apitype.EventFilter{Resource: &apitype.EventResourceFilter{ID: []string{"prefect.flow-run.2"}}}, false},
		"resource prefix":    {&apitype.EventFilter{Resource: &apitype.EventResourceFilter{IDPrefix: []string{"prefect.flow-run."}}}, true},
		"resource glob":      {&apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec(apitype.LabelResourceID, "prefect.flow-run.*")}}, true},
		"resource negation":  {&apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.state-type", "!RUNNING")}}, false},
		"resource neg other": {&apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.state-type", "!COMPLETED")}}, true},
		"absent label neg":   {&apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("nope", "!x")}}, false},
		"empty patterns":     {&apitype.EventFilter{Resource: &apitype.EventResourceFilter{Labels: spec("prefect.state-type")}}, false},
		"related role":       {&apitype.EventFilter{Related: apitype.EventRelatedFilters{{Role: []string{"work-pool"}}}}, true},
		"related id+role":    {&apitype.EventFilter{Related: apitype.EventRelatedFilters{{ID: []string{"prefect.flow.7"}, Role: []string{"work-pool"}}}}, false},
		"related in roles":   {&apitype.EventFilter{Related: apitype.EventRelatedFilters{{ResourcesInRoles: [][2]string{{"prefect.flow.7", "flow"}}}}}, true},
		"related labels":     {&apitype.EventFilter{Related: apitype.EventRelatedFilters{{Labels: apitype.ResourceSpecification{apitype.LabelResourceRole: {"work-pool"}, "prefect.work-pool.type": {"!docker"}}}}}, true},
		"related not prim":   {&apitype.EventFilter{Related: apitype.EventRelatedFilters{{ID: []string{"prefect.flow-run.1"}}}}, false},
		"related AND list":   {&apitype.EventFilter{Related: apitype.EventRelatedFilters{{Role: []string{"flow"}}, {Role: []string{"tag"}}}}, false},
		"related empty":      {&apitype.EventFilter{Related: apitype.EventRelatedFilters{{}}}, true},
		"any resource prim":  {&apitype.EventFilter{AnyResource: apitype.EventAnyResourceFilters{{ID: []string{"prefect.flow-run.1"}}}}, true},
		"any resource rel":   {&apitype.EventFilter{AnyResource: apitype.EventAnyResourceFilters{{IDPrefix: []string{"prefect.work-pool."}}}}, true},
		"any resource same":  {&apitype.EventFilter{AnyResource: apitype.EventAnyResourceFilters{{IDPrefix: []string{"prefect.work-pool."}, Labels: spec("prefect.resource.name", "etl")}}}, false},
		"id":                 {&apitype.EventFilter{ID: &apitype.EventIDFilter{ID: []uuid.UUID{e.ID}}}, true},
		"id miss":            {&apitype.EventFilter{ID: &apitype.EventIDFilter{ID: []uuid.UUID{uuid.New()}}}, false},
		"text":               {&apitype.EventFilter{Text: &apitype.EventTextFilter{Query: `"all done" nothing`}}, true},
		"text exclude":       {&apitype.EventFilter{Text: &apitype.EventTextFilter{Query: "-process"}}, false},
		"text required":      {&apitype.EventFilter{Text: &apitype.EventTextFilter{Query: "+etl +missing"}}, false},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, Matches(tc.f, &e))
		})
	}
}

func TestWithDefaults(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("X", 3600))
	f := WithDefaults(nil, now)
	require.Equal(t, time.Date(2025, 9, 2, 0, 0, 0, 0, time.UTC), *f.Occurred.Since)
	require.Equal(t, now.UTC(), *f.Occurred.Until)
	require.Equal(t, apitype.EventOrderDesc, f.Order)
	since := t0
	in := &apitype.EventFilter{Occurred: &apitype.EventOccurredFilter{Since: &since}, Order: apitype.EventOrderAsc}
	f = WithDefaults(in, now)
	require.Equal(t, t0, *f.Occurred.Since)
	require.Nil(t, in.Occurred.Until, "the input is not modified")
	require.Equal(t, apitype.EventOrderAsc, f.Order)
}

func TestValidate(t *testing.T) {
	ok := testEvent("x", "r").Event
	require.Empty(t, Validate(&ok, Limits{}))
	for name, mutate := range map[string]func(e *apitype.Event){
		"no id":           func(e *apitype.Event) { e.ID = uuid.Nil },
		"no name":         func(e *apitype.Event) { e.Event = "" },
		"long name":       func(e *apitype.Event) { e.Event = "abcdefghijk" },
		"no resource id":  func(e *apitype.Event) { e.Resource = apitype.Resource{"a": "b"} },
		"related no role": func(e *apitype.Event) { e.Related = []apitype.Resource{{apitype.LabelResourceID: "x"}} },
		"payload list":    func(e *apitype.Event) { e.Payload = json.RawMessage(`[1]`) },
		"too many labels": func(e *apitype.Event) { e.Resource["b"], e.Resource["c"] = "1", "2" },
	} {
		t.Run(name, func(t *testing.T) {
			e := testEvent("x", "r").Event
			mutate(&e)
			require.NotEmpty(t, Validate(&e, Limits{MaxNameLength: 10, MaxLabels: 2}))
		})
	}
}

func TestTimeCounts(t *testing.T) {
	since := time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC)
	until := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC) // in the future: clamped to the end of today
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	first := int64(since.Sub(time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
	got, err := TimeCounts(since, until, now, apitype.TimeUnitDay, 1, []apitype.EventCount{
		{Value: strconv.FormatInt(first+2, 10), Count: 7},
	})
	require.NoError(t, err)
	require.Len(t, got, 3) // Feb 27, Feb 28, Mar 1
	require.Equal(t, apitype.EventCount{Value: "0", Label: "2026-02-27T00:00:00+00:00",
		StartTime: time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC),
		EndTime:   time.Date(2026, 2, 27, 23, 59, 59, 999999000, time.UTC)}, got[0])
	require.Equal(t, int64(0), got[1].Count)
	require.Equal(t, "2", got[2].Value)
	require.Equal(t, int64(7), got[2].Count)

	require.Empty(t, CheckBuckets(since, since.Add(1000*time.Hour), apitype.TimeUnitHour, 1))
	require.Contains(t, CheckBuckets(since, since.Add(1001*time.Hour), apitype.TimeUnitHour, 1), "1001 buckets")
	require.Equal(t, time.Date(2026, 3, 1, 23, 59, 59, 999999000, time.UTC), endOfPeriod(now, apitype.TimeUnitWeek))
}
