package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// runKind names the tables of one run kind; both kinds share the state code.
type runKind struct {
	table      string // flow_run / task_run
	stateTable string // flow_run_state / task_run_state
	runIDCol   string // flow_run_id / task_run_id (in the state table)
	what       string // "flow run" / "task run", for errors
}

var (
	flowRunKind = runKind{table: "flow_run", stateTable: "flow_run_state", runIDCol: "flow_run_id", what: "flow run"}
	taskRunKind = runKind{table: "task_run", stateTable: "task_run_state", runIDCol: "task_run_id", what: "task run"}
)

const stateColumns = `id, type, timestamp, name, message, state_details, data`

func scanState(r rowScanner) (*apitype.State, error) {
	var (
		s             apitype.State
		id, ts        string
		message, data sql.NullString
		details       string
	)
	if err := r.Scan(&id, &s.Type, &ts, &s.Name, &message, &details, &data); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if s.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode state id: %w", err)
	}
	if s.Timestamp, err = decodeTime(ts); err != nil {
		return nil, err
	}
	s.Message = optString(message)
	if err := storage.DecodeStateJSON(&s, details, optString(data)); err != nil {
		return nil, err
	}
	return &s, nil
}

func (k runKind) getState(ctx context.Context, q queryer, id uuid.UUID) (*apitype.State, error) {
	s, err := scanState(q.QueryRowContext(ctx, `SELECT `+stateColumns+` FROM `+k.stateTable+` WHERE id = ?`, id.String()))
	if err != nil {
		return nil, fmt.Errorf("get %s state: %w", k.what, err)
	}
	return s, nil
}

func (k runKind) listStates(ctx context.Context, q queryer, where string, arg any) ([]apitype.State, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+stateColumns+` FROM `+k.stateTable+` WHERE `+where+` ORDER BY timestamp ASC, id ASC`, arg)
	if err != nil {
		return nil, fmt.Errorf("list %s states: %w", k.what, err)
	}
	defer rows.Close()
	out := []apitype.State{}
	for rows.Next() {
		s, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("list %s states: %w", k.what, err)
		}
		out = append(out, *s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s states: %w", k.what, err)
	}
	return out, nil
}

// statesByID loads the current states of a page of runs in one query.
func (k runKind) statesByID(ctx context.Context, q queryer, ids []uuid.UUID) (map[uuid.UUID]*apitype.State, error) {
	out := map[uuid.UUID]*apitype.State{}
	if len(ids) == 0 {
		return out, nil
	}
	states, err := k.listStates(ctx, q, `id IN (SELECT value FROM json_each(?))`, storage.JSONList(storage.UUIDStrings(ids)))
	if err != nil {
		return nil, err
	}
	for i := range states {
		out[states[i].ID] = &states[i]
	}
	return out, nil
}

func (k runKind) insertState(ctx context.Context, tx *sql.Tx, runID uuid.UUID, s *apitype.State, now time.Time) error {
	details, data, err := storage.EncodeStateJSON(s)
	if err != nil {
		return err
	}
	n := encodeTime(now)
	_, err = tx.ExecContext(ctx, `INSERT INTO `+k.stateTable+` (id, created, updated, `+k.runIDCol+`, type, timestamp, name, message, state_details, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID.String(), n, n, runID.String(), string(s.Type), encodeTime(s.Timestamp),
		s.Name, s.Message, details, data)
	if err != nil {
		return fmt.Errorf("insert %s state: %w", k.what, interpretError(err))
	}
	return nil
}

// setState writes an orchestration outcome: the state row, then the run's
// pointer to it and the orchestrated columns.
func (k runKind) setState(ctx context.Context, tx *sql.Tx, w *storage.RunStateWrite) error {
	c := w.Columns
	var policy string
	var err error
	switch {
	case c.FlowPolicy != nil:
		policy, err = storage.MarshalPolicy(c.FlowPolicy)
	case c.TaskPolicy != nil:
		policy, err = storage.MarshalPolicy(c.TaskPolicy)
	default:
		return fmt.Errorf("set %s state: no empirical policy", k.what)
	}
	if err != nil {
		return err
	}
	if w.State != nil {
		if err := k.insertState(ctx, tx, w.RunID, w.State, w.Now); err != nil {
			return err
		}
	}
	var stateID any
	setStateID := ""
	if w.State != nil {
		stateID = w.State.ID.String()
		setStateID = "state_id = ?, "
	}
	var stateType any
	if c.StateType != nil {
		stateType = string(*c.StateType)
	}
	args := []any{}
	if setStateID != "" {
		args = append(args, stateID)
	}
	args = append(args, stateType, c.StateName, encOptTime(c.StateTimestamp), c.RunCount,
		encOptTime(c.StartTime), encOptTime(c.EndTime), c.TotalRunTime.Microseconds(),
		encOptTime(c.ExpectedStartTime), encOptTime(c.NextScheduledStartTime), policy, encodeTime(w.Now))
	extra := ""
	if k.table == "task_run" {
		extra = ", flow_run_run_count = ?"
		args = append(args, c.FlowRunRunCount)
	}
	args = append(args, w.RunID.String())
	return execOne(ctx, tx, "set "+k.what+" state", `UPDATE `+k.table+` SET `+setStateID+
		`state_type = ?, state_name = ?, state_timestamp = ?, run_count = ?, start_time = ?, end_time = ?,
		total_run_time = ?, expected_start_time = ?, next_scheduled_start_time = ?, empirical_policy = ?, updated = ?`+
		extra+` WHERE id = ?`, args...)
}

// FlowRunStates implements storage.RunStore.
func (s *Store) FlowRunStates(ctx context.Context, flowRunID uuid.UUID) ([]apitype.State, error) {
	return flowRunKind.listStates(ctx, s.reader, `flow_run_id = ?`, flowRunID.String())
}

// FlowRunStateGet implements storage.RunStore.
func (s *Store) FlowRunStateGet(ctx context.Context, id uuid.UUID) (*apitype.State, error) {
	return flowRunKind.getState(ctx, s.reader, id)
}

// TaskRunStates implements storage.RunStore.
func (s *Store) TaskRunStates(ctx context.Context, taskRunID uuid.UUID) ([]apitype.State, error) {
	return taskRunKind.listStates(ctx, s.reader, `task_run_id = ?`, taskRunID.String())
}

// TaskRunStateGet implements storage.RunStore.
func (s *Store) TaskRunStateGet(ctx context.Context, id uuid.UUID) (*apitype.State, error) {
	return taskRunKind.getState(ctx, s.reader, id)
}

// Nullable column helpers.

func optString(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	v := ns.String
	return &v
}

func optTime(ns sql.NullString) (*time.Time, error) {
	if !ns.Valid {
		return nil, nil
	}
	t, err := decodeTime(ns.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func optUUID(ns sql.NullString) (*uuid.UUID, error) {
	if !ns.Valid {
		return nil, nil
	}
	u, err := uuid.Parse(ns.String)
	if err != nil {
		return nil, fmt.Errorf("decode uuid %q: %w", ns.String, err)
	}
	return &u, nil
}

func encOptTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return encodeTime(*t)
}

func encOptUUID(u *uuid.UUID) any {
	if u == nil {
		return nil
	}
	return u.String()
}

// ContainsAny implements storage.RunDialect.
func (dialect) ContainsAny(w *storage.Where, col string, values []string) string {
	return "(EXISTS (SELECT 1 FROM json_each(" + col + ") AS have WHERE have.value IN (SELECT value FROM json_each(" +
		w.Bind(storage.JSONList(values)) + "))))"
}

// JSONField implements storage.RunDialect.
func (dialect) JSONField(col, key string) string { return "json_extract(" + col + ", '$." + key + "')" }

// listRuns reads one page of kind's runs with query and attaches each run's
// current state with one more query: flow runs and task runs alike. ref
// points at a run's state id and state fields.
func listRuns[T any](ctx context.Context, s *Store, kind runKind, query string, args []any,
	scan func(rowScanner) (*T, error), ref func(*T) (*uuid.UUID, **apitype.State)) ([]T, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", kind.what, err)
	}
	defer rows.Close()
	out := []T{}
	var stateIDs []uuid.UUID
	for rows.Next() {
		run, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list %ss: %w", kind.what, err)
		}
		if id, _ := ref(run); id != nil {
			stateIDs = append(stateIDs, *id)
		}
		out = append(out, *run)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %ss: %w", kind.what, err)
	}
	states, err := kind.statesByID(ctx, s.reader, stateIDs)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if id, state := ref(&out[i]); id != nil {
			*state = states[*id]
		}
	}
	return out, nil
}
