package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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

var _ storage.RunStore = (*Store)(nil)

// queryer is a pool or a transaction.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const stateColumns = `id, type, timestamp, name, message, state_details::text, data::text`

func scanState(r pgx.Row) (*apitype.State, error) {
	var (
		s       apitype.State
		details string
		data    *string
	)
	if err := r.Scan(&s.ID, &s.Type, &s.Timestamp, &s.Name, &s.Message, &details, &data); err != nil {
		return nil, interpretError(err)
	}
	s.Timestamp = s.Timestamp.UTC()
	if err := storage.DecodeStateJSON(&s, details, data); err != nil {
		return nil, err
	}
	return &s, nil
}

func (k runKind) getState(ctx context.Context, q queryer, id uuid.UUID) (*apitype.State, error) {
	s, err := scanState(q.QueryRow(ctx, `SELECT `+stateColumns+` FROM `+k.stateTable+` WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get %s state: %w", k.what, err)
	}
	return s, nil
}

func (k runKind) listStates(ctx context.Context, q queryer, where string, arg any) ([]apitype.State, error) {
	rows, err := q.Query(ctx, `SELECT `+stateColumns+` FROM `+k.stateTable+` WHERE `+where+` ORDER BY timestamp ASC, id ASC`, arg)
	if err != nil {
		return nil, fmt.Errorf("list %s states: %w", k.what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.State, error) {
		s, err := scanState(r)
		if err != nil {
			return apitype.State{}, err
		}
		return *s, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s states: %w", k.what, err)
	}
	if out == nil {
		out = []apitype.State{}
	}
	return out, nil
}

func (k runKind) statesByID(ctx context.Context, q queryer, ids []uuid.UUID) (map[uuid.UUID]*apitype.State, error) {
	out := map[uuid.UUID]*apitype.State{}
	if len(ids) == 0 {
		return out, nil
	}
	states, err := k.listStates(ctx, q, `id = ANY($1::uuid[])`, storage.UUIDStrings(ids))
	if err != nil {
		return nil, err
	}
	for i := range states {
		out[states[i].ID] = &states[i]
	}
	return out, nil
}

// setState writes an orchestration outcome: the state row, then the run's
// pointer to it and the orchestrated columns.
func (k runKind) setState(ctx context.Context, tx pgx.Tx, w *storage.RunStateWrite) error {
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
	now := storage.DBTime(w.Now)
	var stateID *uuid.UUID
	if w.State != nil {
		details, data, err := storage.EncodeStateJSON(w.State)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+k.stateTable+` (id, created, updated, `+k.runIDCol+`, type, timestamp, name,
			message, state_details, data) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8::json, $9::json)`,
			w.State.ID, now, w.RunID, string(w.State.Type), storage.DBTime(w.State.Timestamp), w.State.Name,
			w.State.Message, details, data)
		if err != nil {
			return fmt.Errorf("insert %s state: %w", k.what, interpretError(err))
		}
		stateID = &w.State.ID
	}
	var stateType *string
	if c.StateType != nil {
		t := string(*c.StateType)
		stateType = &t
	}
	extra := ""
	args := []any{stateID, stateType, c.StateName, dbTimePtr(c.StateTimestamp), c.RunCount, dbTimePtr(c.StartTime),
		dbTimePtr(c.EndTime), c.TotalRunTime.Microseconds(), dbTimePtr(c.ExpectedStartTime),
		dbTimePtr(c.NextScheduledStartTime), policy, now, w.RunID}
	if k.table == "task_run" {
		extra = ", flow_run_run_count = $14"
		args = append(args, c.FlowRunRunCount)
	}
	return execOne(ctx, tx, "set "+k.what+" state", `UPDATE `+k.table+` SET state_id = COALESCE($1, state_id),
		state_type = $2, state_name = $3, state_timestamp = $4, run_count = $5, start_time = $6, end_time = $7,
		total_run_time = $8, expected_start_time = $9, next_scheduled_start_time = $10, empirical_policy = $11::json,
		updated = $12`+extra+` WHERE id = $13`, args...)
}

func dbTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := storage.DBTime(*t)
	return &v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// FlowRunStates implements storage.RunStore.
func (s *Store) FlowRunStates(ctx context.Context, flowRunID uuid.UUID) ([]apitype.State, error) {
	return flowRunKind.listStates(ctx, s.pool, `flow_run_id = $1`, flowRunID)
}

// FlowRunStateGet implements storage.RunStore.
func (s *Store) FlowRunStateGet(ctx context.Context, id uuid.UUID) (*apitype.State, error) {
	return flowRunKind.getState(ctx, s.pool, id)
}

// TaskRunStates implements storage.RunStore.
func (s *Store) TaskRunStates(ctx context.Context, taskRunID uuid.UUID) ([]apitype.State, error) {
	return taskRunKind.listStates(ctx, s.pool, `task_run_id = $1`, taskRunID)
}

// TaskRunStateGet implements storage.RunStore.
func (s *Store) TaskRunStateGet(ctx context.Context, id uuid.UUID) (*apitype.State, error) {
	return taskRunKind.getState(ctx, s.pool, id)
}

// ContainsAny implements storage.RunDialect.
func (dialect) ContainsAny(w *storage.Where, col string, values []string) string {
	if values == nil {
		values = []string{}
	}
	return "(" + col + " ?| " + w.Bind(values) + "::text[])"
}

// JSONField implements storage.RunDialect.
func (dialect) JSONField(col, key string) string { return "(" + col + "->>'" + key + "')" }

// mustExist reports a missing parent row as a conflict, as Prefect's
// foreign-key IntegrityError is. FOR SHARE keeps it from vanishing before
// commit.
func mustExist(ctx context.Context, tx pgx.Tx, table string, id uuid.UUID) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = $1 FOR SHARE`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s %s does not exist", storage.ErrConflict, table, id)
	}
	return err
}

func (s *Store) countRuns(ctx context.Context, k runKind, q *storage.RunQuery) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := k.query(w, q)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+k.table+` WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %ss: %w", k.what, err)
	}
	return n, nil
}

func (k runKind) query(w *storage.Where, q *storage.RunQuery) (string, error) {
	if k.table == "flow_run" {
		return w.FlowRunQuery(q)
	}
	return w.TaskRunQuery(q)
}

func (s *Store) runHistory(ctx context.Context, k runKind, q *storage.RunQuery, start, end time.Time) ([]storage.HistoryRun, error) {
	w := storage.NewWhere(dialect{})
	cond, err := k.query(w, q)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT expected_start_time, state_type, COALESCE(state_name, ''), state_timestamp,
		start_time, total_run_time FROM `+k.table+` WHERE expected_start_time >= `+w.Bind(storage.DBTime(start))+
		` AND expected_start_time < `+w.Bind(storage.DBTime(end))+` AND state_type IS NOT NULL AND `+cond, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("%s history: %w", k.what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.HistoryRun, error) {
		var (
			h       storage.HistoryRun
			totalUS int64
		)
		if err := r.Scan(&h.ExpectedStartTime, &h.StateType, &h.StateName, &h.StateTimestamp, &h.StartTime, &totalUS); err != nil {
			return h, err
		}
		h.ExpectedStartTime = h.ExpectedStartTime.UTC()
		h.StateTimestamp, h.StartTime = utcPtr(h.StateTimestamp), utcPtr(h.StartTime)
		h.TotalRunTime = time.Duration(totalUS) * time.Microsecond
		return h, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s history: %w", k.what, err)
	}
	return out, nil
}

func (s *Store) orchestrate(ctx context.Context, k runKind, id uuid.UUID, fn func(ctx context.Context, tx storage.RunTx) error) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		var one int
		// The row lock serialises every orchestration of this run.
		if err := tx.QueryRow(ctx, `SELECT 1 FROM `+k.table+` WHERE id = $1 FOR UPDATE`, id).Scan(&one); err != nil {
			return fmt.Errorf("lock %s: %w", k.what, interpretError(err))
		}
		return fn(ctx, &runTx{tx: tx})
	})
}

// runTx is storage.RunTx over one transaction holding the run's row lock.
type runTx struct{ tx pgx.Tx }

func (t *runTx) FlowRun(ctx context.Context, id uuid.UUID) (*apitype.FlowRun, error) {
	return getFlowRun(ctx, t.tx, `id = $1`, id)
}

func (t *runTx) TaskRun(ctx context.Context, id uuid.UUID) (*apitype.TaskRun, error) {
	return getTaskRun(ctx, t.tx, `id = $1`, id)
}

func (t *runTx) LockTaskRun(ctx context.Context, id uuid.UUID) error {
	var one int
	if err := t.tx.QueryRow(ctx, `SELECT 1 FROM task_run WHERE id = $1 FOR UPDATE`, id).Scan(&one); err != nil {
		return fmt.Errorf("lock task run: %w", interpretError(err))
	}
	return nil
}

func (t *runTx) CachedTaskRunState(ctx context.Context, key string, now time.Time) (*apitype.State, error) {
	var stateID uuid.UUID
	err := t.tx.QueryRow(ctx, `SELECT task_run_state_id FROM task_run_state_cache
		WHERE cache_key = $1 AND (cache_expiration IS NULL OR cache_expiration > $2)
		ORDER BY created DESC, id DESC LIMIT 1`, key, storage.DBTime(now)).Scan(&stateID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read task run cache: %w", err)
	}
	st, err := taskRunKind.getState(ctx, t.tx, stateID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil // the cached run was deleted
	}
	return st, err
}

func (t *runTx) FlowRunStateTimestampTaken(ctx context.Context, flowRunID uuid.UUID, ts time.Time) (bool, error) {
	var taken bool
	if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM flow_run_state WHERE flow_run_id = $1 AND timestamp = $2)`,
		flowRunID, storage.DBTime(ts)).Scan(&taken); err != nil {
		return false, fmt.Errorf("read flow run states: %w", err)
	}
	return taken, nil
}

func (t *runTx) SetFlowRunState(ctx context.Context, w *storage.RunStateWrite) error {
	return flowRunKind.setState(ctx, t.tx, w)
}

func (t *runTx) SetTaskRunState(ctx context.Context, w *storage.RunStateWrite) error {
	return taskRunKind.setState(ctx, t.tx, w)
}

func (t *runTx) InsertCacheEntry(ctx context.Context, e *storage.CacheEntry) error {
	n := storage.DBTime(e.Now)
	_, err := t.tx.Exec(ctx, `INSERT INTO task_run_state_cache (id, created, updated, cache_key, cache_expiration,
		task_run_state_id) VALUES ($1, $2, $2, $3, $4, $5)`, e.ID, n, e.CacheKey, dbTimePtr(e.CacheExpiration), e.StateID)
	if err != nil {
		return fmt.Errorf("insert task run cache entry: %w", interpretError(err))
	}
	return nil
}

// listRuns reads one page of kind's runs with query and attaches each run's
// current state with one more query: flow runs and task runs alike. ref
// points at a run's state id and state fields.
func listRuns[T any](ctx context.Context, s *Store, kind runKind, query string, args []any,
	scan func(pgx.Row) (*T, error), ref func(*T) (*uuid.UUID, **apitype.State)) ([]T, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", kind.what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) {
		run, err := scan(r)
		if err != nil {
			var zero T
			return zero, err
		}
		return *run, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", kind.what, err)
	}
	var stateIDs []uuid.UUID
	for i := range out {
		if id, _ := ref(&out[i]); id != nil {
			stateIDs = append(stateIDs, *id)
		}
	}
	states, err := kind.statesByID(ctx, s.pool, stateIDs)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if id, state := ref(&out[i]); id != nil {
			*state = states[*id]
		}
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}
