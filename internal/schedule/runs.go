package schedule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// Prefect's server.services.scheduler defaults.
const (
	DefaultMaxRuns          = 100
	DefaultMinRuns          = 3
	DefaultMaxScheduledTime = 100 * 24 * time.Hour
	DefaultMinScheduledTime = time.Hour
)

// Window bounds the runs planned for a deployment, as the arguments of
// Prefect's schedule_runs: runs start on or after Start, are at most MaxRuns
// per schedule and never after End; within that, generation stops once a
// schedule has MinRuns runs reaching Start+MinTime.
type Window struct {
	Start, End time.Time
	MinTime    time.Duration
	MinRuns    int
	MaxRuns    int
	// CapScheduled limits each schedule to its max_scheduled_runs future
	// runs. The scheduler service sets it; POST /deployments/{id}/schedule
	// (an explicit request, possibly a backfill) does not.
	CapScheduled bool
}

// DefaultWindow is the scheduler's window at now with Prefect's defaults.
func DefaultWindow(now time.Time) Window {
	now = now.UTC()
	return Window{Start: now, End: now.Add(DefaultMaxScheduledTime), MinTime: DefaultMinScheduledTime,
		MinRuns: DefaultMinRuns, MaxRuns: DefaultMaxRuns, CapScheduled: true}
}

// RunsFor plans the auto-scheduled flow runs of d's active schedules inside
// w (Prefect's _generate_scheduled_flow_runs). Each run is complete: its
// SCHEDULED state and the run's copies of it are set, and its idempotency key
// is Prefect's, so inserting the same plan twice creates nothing new. name
// names each run (Prefect's two-word slug). now stamps the states.
func RunsFor(d *apitype.Deployment, w Window, now time.Time, name func() string) ([]apitype.FlowRun, error) {
	var runs []apitype.FlowRun
	labels := map[string]any{}
	for k, v := range d.Labels {
		labels[k] = v
	}
	labels["prefect.flow.id"] = d.FlowID.String()
	labels["prefect.deployment.id"] = d.ID.String()
	tags := append([]string{"auto-scheduled"}, d.Tags...)
	now = now.UTC()
	for i := range d.Schedules {
		ds := &d.Schedules[i]
		if !ds.Active {
			continue
		}
		dates, err := planDates(ds, w)
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %w", ds.ID, err)
		}
		params, err := mergeObjects(d.Parameters, ds.Parameters)
		if err != nil {
			return nil, fmt.Errorf("schedule %s parameters: %w", ds.ID, err)
		}
		display := scheduleKind(ds.Schedule)
		if ds.Slug != nil && *ds.Slug != "" {
			display = *ds.Slug
		}
		for _, date := range dates {
			runs = append(runs, plannedRun(d, ds, date, now, params, tags, labels, display, name()))
		}
	}
	return runs, nil
}

// planDates picks a schedule's dates: up to MaxRuns (and max_scheduled_runs
// when capped) in [Start, End], stopping at the first date that satisfies
// both minimums, as Prefect's generator loop does.
func planDates(ds *apitype.DeploymentSchedule, w Window) ([]time.Time, error) {
	n := w.MaxRuns
	if w.CapScheduled && ds.MaxScheduledRuns != nil && int(*ds.MaxScheduledRuns) < n {
		n = int(*ds.MaxScheduledRuns)
	}
	if n <= 0 {
		return nil, nil
	}
	all, err := Dates(ds.Schedule, n, w.Start, w.End)
	if err != nil {
		return nil, err
	}
	floor := w.Start.Add(w.MinTime)
	for i, dt := range all {
		if i+1 >= w.MinRuns && !dt.Before(floor) {
			return all[:i+1], nil
		}
	}
	return all, nil
}

func plannedRun(d *apitype.Deployment, ds *apitype.DeploymentSchedule, date, now time.Time, params json.RawMessage,
	tags []string, labels map[string]any, display, name string) apitype.FlowRun {
	id := uuid.Must(uuid.NewV7())
	stateID := uuid.Must(uuid.NewV7())
	key := IdempotencyKey(d.ID, ds.ID, date)
	scheduled := apitype.StateTypeScheduled
	stateName := "Scheduled"
	msg := "Flow run scheduled"
	at := date.UTC()
	kind := "SCHEDULE"
	schedID := ds.ID
	return apitype.FlowRun{
		ID: id, Name: name, FlowID: d.FlowID, DeploymentID: &d.ID, DeploymentVersion: d.Version,
		WorkQueueName: d.WorkQueueName, WorkQueueID: d.WorkQueueID, InfrastructureDocumentID: d.InfrastructureDocumentID,
		Parameters: params, Context: json.RawMessage(`{}`), JobVariables: json.RawMessage(`{}`),
		IdempotencyKey: &key, Tags: tags, Labels: labels, AutoScheduled: true,
		EmpiricalPolicy: apitype.FlowRunPolicy{PauseKeys: []string{}, Resuming: new(bool)},
		CreatedBy:       &apitype.CreatedBy{ID: &schedID, Type: &kind, DisplayValue: &display},
		StateID:         &stateID, StateType: &scheduled, StateName: &stateName, StateTimestamp: &now,
		ExpectedStartTime: &at, NextScheduledStartTime: &at,
		State: &apitype.State{ID: stateID, Type: scheduled, Name: stateName, Timestamp: now, Message: &msg,
			StateDetails: apitype.StateDetails{FlowRunID: &id, ScheduledTime: &at}},
	}
}

// IdempotencyKey is Prefect's key of an auto-scheduled run:
// "scheduled {deployment_id} {schedule_id} {date}", the date printed as
// Python prints a datetime in the schedule's timezone.
func IdempotencyKey(deploymentID, scheduleID uuid.UUID, date time.Time) string {
	return "scheduled " + deploymentID.String() + " " + scheduleID.String() + " " + PythonDatetime(date)
}

// PythonDatetime formats t as Python's str(datetime) does for an aware
// datetime: "2024-03-10 01:30:00-05:00", with ".ffffff" only when the
// microseconds are not zero and seconds in the offset only when present.
func PythonDatetime(t time.Time) string {
	s := t.Format("2006-01-02 15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	s += fmt.Sprintf("%s%02d:%02d", sign, off/3600, off/60%60)
	if off%60 != 0 {
		s += fmt.Sprintf(":%02d", off%60)
	}
	return s
}

// scheduleKind is the class name Prefect shows when a schedule has no slug.
func scheduleKind(s apitype.Schedule) string {
	switch {
	case s.Interval != nil:
		return "IntervalSchedule"
	case s.Cron != nil:
		return "CronSchedule"
	case s.RRule != nil:
		return "RRuleSchedule"
	}
	return "Schedule"
}

// mergeObjects is Python's {**base, **over} on two JSON objects, keeping
// base's key order with overridden values in place and new keys appended,
// so a deployment's parameters keep the order the user wrote them in.
func mergeObjects(base, over json.RawMessage) (json.RawMessage, error) {
	if isEmptyObject(over) {
		if isEmptyObject(base) {
			return json.RawMessage(`{}`), nil
		}
		return base, nil
	}
	if isEmptyObject(base) {
		return over, nil
	}
	bk, bv, err := objectMembers(base)
	if err != nil {
		return nil, err
	}
	ok, ov, err := objectMembers(over)
	if err != nil {
		return nil, err
	}
	idx := make(map[string]int, len(bk))
	for i, k := range bk {
		idx[k] = i
	}
	for i, k := range ok {
		if j, found := idx[k]; found {
			bv[j] = ov[i]
			continue
		}
		idx[k] = len(bk)
		bk, bv = append(bk, k), append(bv, ov[i])
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range bk {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(bv[i])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func isEmptyObject(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) == 0 || string(t) == "null" || string(t) == "{}"
}

// objectMembers splits a JSON object into its keys and raw values, in order
// (the last of duplicate keys wins, as in Python).
func objectMembers(b json.RawMessage) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not a JSON object")
	}
	var keys []string
	var vals []json.RawMessage
	seen := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		if i, dup := seen[k]; dup {
			vals[i] = v
			continue
		}
		seen[k] = len(keys)
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals, nil
}
