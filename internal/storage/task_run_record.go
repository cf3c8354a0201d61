package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// TaskRunRecordStore is the write side of Prefect's TaskRunRecorder: task
// runs are orchestrated by the client, which reports each state as a
// prefect.task-run.<State> event; the recorder turns batches of them into
// task_run and task_run_state rows.
type TaskRunRecordStore interface {
	// TaskRunRecordMany applies a batch in ONE transaction. For each record:
	//
	//   - the task run is found on its natural key (flow_run_id, task_key,
	//     dynamic_key; for runs without a flow run, the (task_key,
	//     dynamic_key) that Warden also keeps unique), else on its id, else
	//     inserted with the record's id. A run found on the natural key under
	//     another id keeps its id, and the state is attached to it (Prefect
	//     rewrites the event's id to the canonical one the same way);
	//   - an existing run is updated only when the record's state is newer
	//     than the run's state_timestamp (a run without one is older than any
	//     state), so late and duplicate events never regress it; the update
	//     writes the state columns, flow_run_id, task_key, dynamic_key and the
	//     Fields the event carried, leaving the others alone;
	//   - the state row is inserted unless its id, or its (task_run_id,
	//     timestamp), is already taken. Prefect ignores only the id; ignoring
	//     the timestamp twin too keeps one odd event from failing its batch.
	//
	// A record whose flow run does not exist is not written: its index is
	// returned in missing, for the caller to retry later (Prefect retries
	// the batch that failed on the foreign key). Records are applied in
	// (natural key, state timestamp) order, which keeps the row locks of
	// concurrent PostgreSQL recorders in one order. now stamps created and
	// updated.
	TaskRunRecordMany(ctx context.Context, records []TaskRunRecord, now time.Time) (missing []int, err error)
}

// TaskRunRecord is one task-run state event, decoded. Run holds the run's
// columns (its ID and FlowRunID from the event's resources, the rest from
// payload.task_run; state columns are ignored), State the new state (id =
// event id, timestamp = event occurred).
type TaskRunRecord struct {
	Run    apitype.TaskRun
	Fields TaskRunFields // which payload.task_run columns the event carried
	State  apitype.State
}

// TaskRunFields is a set of task_run columns an event may carry. The SDK
// drops null fields from the payload, so an absent field means "unknown":
// an update leaves that column as it is. task_key and dynamic_key are
// required and always written.
type TaskRunFields uint32

// The optional task_run columns of payload.task_run.
const (
	TaskRunFieldName TaskRunFields = 1 << iota
	TaskRunFieldCacheKey
	TaskRunFieldCacheExpiration
	TaskRunFieldTaskVersion
	TaskRunFieldEmpiricalPolicy
	TaskRunFieldTags
	TaskRunFieldLabels
	TaskRunFieldTaskInputs
	TaskRunFieldRunCount
	TaskRunFieldFlowRunRunCount
	TaskRunFieldExpectedStartTime
	TaskRunFieldNextScheduledStartTime
	TaskRunFieldStartTime
	TaskRunFieldEndTime
	TaskRunFieldTotalRunTime

	// TaskRunFieldsAll is every optional field.
	TaskRunFieldsAll = TaskRunFieldTotalRunTime<<1 - 1
)

// TaskRunFieldsByJSON maps payload.task_run keys onto their fields.
var TaskRunFieldsByJSON = map[string]TaskRunFields{
	"name": TaskRunFieldName, "cache_key": TaskRunFieldCacheKey, "cache_expiration": TaskRunFieldCacheExpiration,
	"task_version": TaskRunFieldTaskVersion, "empirical_policy": TaskRunFieldEmpiricalPolicy,
	"tags": TaskRunFieldTags, "labels": TaskRunFieldLabels, "task_inputs": TaskRunFieldTaskInputs,
	"run_count": TaskRunFieldRunCount, "flow_run_run_count": TaskRunFieldFlowRunRunCount,
	"expected_start_time": TaskRunFieldExpectedStartTime, "next_scheduled_start_time": TaskRunFieldNextScheduledStartTime,
	"start_time": TaskRunFieldStartTime, "end_time": TaskRunFieldEndTime, "total_run_time": TaskRunFieldTotalRunTime,
}

// RecordColumnKind says how an engine binds a RecordColumn's value.
type RecordColumnKind int

// Value types per kind: Plain is a string, *string, int, int64 or
// *uuid.UUID; Time is *time.Time (nil is NULL); JSON and JSONB are JSON text
// (string, or *string where NULL is allowed).
const (
	RecordPlain RecordColumnKind = iota
	RecordTime
	RecordJSON
	RecordJSONB
)

// RecordColumn is one task_run column of a record's upsert.
type RecordColumn struct {
	Name  string
	Value any
	Kind  RecordColumnKind
	// Update: the column is overwritten when the record is newer.
	Update bool
}

// TaskRunRecordColumns renders the task_run columns of r, with the state
// columns pointing at r.State, for an upsert into the run with id runID.
// Both engines build their statement from it, so they write the same row.
func TaskRunRecordColumns(r *TaskRunRecord, runID uuid.UUID) ([]RecordColumn, error) {
	run := &r.Run
	j, err := EncodeTaskRunJSON(run)
	if err != nil {
		return nil, err
	}
	has := func(f TaskRunFields) bool { return r.Fields&f != 0 }
	stateTS := r.State.Timestamp
	return []RecordColumn{
		{Name: "id", Value: runID},
		{Name: "flow_run_id", Value: run.FlowRunID, Update: true},
		{Name: "task_key", Value: run.TaskKey, Update: true},
		{Name: "dynamic_key", Value: run.DynamicKey, Update: true},
		{Name: "name", Value: run.Name, Update: has(TaskRunFieldName)},
		{Name: "cache_key", Value: run.CacheKey, Update: has(TaskRunFieldCacheKey)},
		{Name: "cache_expiration", Value: run.CacheExpiration, Kind: RecordTime, Update: has(TaskRunFieldCacheExpiration)},
		{Name: "task_version", Value: run.TaskVersion, Update: has(TaskRunFieldTaskVersion)},
		{Name: "empirical_policy", Value: j.EmpiricalPolicy, Kind: RecordJSON, Update: has(TaskRunFieldEmpiricalPolicy)},
		{Name: "tags", Value: j.Tags, Kind: RecordJSONB, Update: has(TaskRunFieldTags)},
		{Name: "labels", Value: j.Labels, Kind: RecordJSONB, Update: has(TaskRunFieldLabels)},
		{Name: "task_inputs", Value: j.TaskInputs, Kind: RecordJSON, Update: has(TaskRunFieldTaskInputs)},
		{Name: "run_count", Value: run.RunCount, Update: has(TaskRunFieldRunCount)},
		{Name: "flow_run_run_count", Value: run.FlowRunRunCount, Update: has(TaskRunFieldFlowRunRunCount)},
		{Name: "expected_start_time", Value: run.ExpectedStartTime, Kind: RecordTime, Update: has(TaskRunFieldExpectedStartTime)},
		{Name: "next_scheduled_start_time", Value: run.NextScheduledStartTime, Kind: RecordTime, Update: has(TaskRunFieldNextScheduledStartTime)},
		{Name: "start_time", Value: run.StartTime, Kind: RecordTime, Update: has(TaskRunFieldStartTime)},
		{Name: "end_time", Value: run.EndTime, Kind: RecordTime, Update: has(TaskRunFieldEndTime)},
		{Name: "total_run_time", Value: int64(run.TotalRunTime * 1e6), Update: has(TaskRunFieldTotalRunTime)},
		{Name: "state_id", Value: &r.State.ID, Update: true},
		{Name: "state_type", Value: string(r.State.Type), Update: true},
		{Name: "state_name", Value: r.State.Name, Update: true},
		{Name: "state_timestamp", Value: &stateTS, Kind: RecordTime, Update: true},
	}, nil
}

// RecordState returns the state row of r for the run runID: Prefect fills
// the state's run ids from the event's resources.
func RecordState(r *TaskRunRecord, runID uuid.UUID) *apitype.State {
	s := r.State.Clone()
	id := runID
	s.StateDetails.TaskRunID = &id
	s.StateDetails.FlowRunID = clonePtrUUID(r.Run.FlowRunID)
	return s
}

func clonePtrUUID(u *uuid.UUID) *uuid.UUID {
	if u == nil {
		return nil
	}
	v := *u
	return &v
}

// SortTaskRunRecords returns the order records are applied in: by natural
// key, then state timestamp, then state id (so equal inputs always apply
// identically).
func SortTaskRunRecords(records []TaskRunRecord) []int {
	idx := make([]int, len(records))
	for i := range idx {
		idx[i] = i
	}
	key := func(r *TaskRunRecord) string {
		fr := ""
		if r.Run.FlowRunID != nil {
			fr = r.Run.FlowRunID.String()
		}
		return fr + "\x00" + r.Run.TaskKey + "\x00" + r.Run.DynamicKey
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ra, rb := &records[a], &records[b]
		if c := strings.Compare(key(ra), key(rb)); c != 0 {
			return c
		}
		if c := ra.State.Timestamp.Compare(rb.State.Timestamp); c != 0 {
			return c
		}
		return strings.Compare(ra.State.ID.String(), rb.State.ID.String())
	})
	return idx
}

// TaskRunUpsertSQL is the statement both engines run for one record: insert
// the run (created and updated are the first two values) or, when its id is
// taken and the record's state is newer, overwrite the record's Update
// columns. bind renders the n-th placeholder (1-based) for a column kind.
func TaskRunUpsertSQL(cols []RecordColumn, bind func(n int, kind RecordColumnKind) string) string {
	var names, values, sets []string
	names = append(names, "created", "updated")
	values = append(values, bind(1, RecordTime), bind(2, RecordTime))
	sets = append(sets, "updated = excluded.updated")
	for i, c := range cols {
		names = append(names, c.Name)
		values = append(values, bind(i+3, c.Kind))
		if c.Update {
			sets = append(sets, c.Name+" = excluded."+c.Name)
		}
	}
	return `INSERT INTO task_run (` + strings.Join(names, ", ") + `) VALUES (` + strings.Join(values, ", ") +
		`) ON CONFLICT (id) DO UPDATE SET ` + strings.Join(sets, ", ") +
		` WHERE task_run.state_timestamp IS NULL OR task_run.state_timestamp < excluded.state_timestamp`
}

// ApplyTaskRunRecords is the per-batch loop both engines run inside their
// transaction: records in SortTaskRunRecords order, the ones whose flow run
// is missing (flowRunExists, asked once per flow run) skipped and returned
// by index, the others handed to apply.
func ApplyTaskRunRecords(records []TaskRunRecord, flowRunExists func(uuid.UUID) (bool, error),
	apply func(*TaskRunRecord) error) ([]int, error) {
	var missing []int
	known := map[uuid.UUID]bool{}
	for _, i := range SortTaskRunRecords(records) {
		r := &records[i]
		if fr := r.Run.FlowRunID; fr != nil {
			ok, seen := known[*fr]
			if !seen {
				var err error
				if ok, err = flowRunExists(*fr); err != nil {
					return nil, fmt.Errorf("record task run: %w", err)
				}
				known[*fr] = ok
			}
			if !ok {
				missing = append(missing, i)
				continue
			}
		}
		if err := apply(r); err != nil {
			return nil, err
		}
	}
	slices.Sort(missing)
	return missing, nil
}
