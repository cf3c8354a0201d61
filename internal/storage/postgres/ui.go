package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

var _ storage.UIStore = (*Store)(nil)

// terminalStateTypes is Prefect's TERMINAL_STATES as an SQL list.
const terminalStateTypes = `('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')`

// FlowRunSimpleList implements storage.UIStore.
func (s *Store) FlowRunSimpleList(ctx context.Context, p *storage.RunListParams) ([]storage.SimpleFlowRun, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.FlowRunQuery(&p.RunQuery)
	if err != nil {
		return nil, err
	}
	order, err := storage.FlowRunOrderBy(p.Sort)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, state_type, state_timestamp, start_time, expected_start_time,
		total_run_time FROM flow_run WHERE state_type IS NOT NULL AND COALESCE(start_time, expected_start_time) IS NOT NULL
		AND `+cond+` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list flow run history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.SimpleFlowRun, error) {
		var (
			f       storage.SimpleFlowRun
			totalUS int64
		)
		if err := r.Scan(&f.ID, &f.StateType, &f.StateTimestamp, &f.StartTime, &f.ExpectedStartTime, &totalUS); err != nil {
			return f, err
		}
		f.StateTimestamp, f.StartTime, f.ExpectedStartTime = utcPtr(f.StateTimestamp), utcPtr(f.StartTime), utcPtr(f.ExpectedStartTime)
		f.TotalRunTime = time.Duration(totalUS) * time.Microsecond
		return f, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list flow run history: %w", err)
	}
	return out, nil
}

// TaskRunCountsByFlowRun implements storage.UIStore.
func (s *Store) TaskRunCountsByFlowRun(ctx context.Context, flowRunIDs []uuid.UUID) (map[uuid.UUID]int64, error) {
	out := map[uuid.UUID]int64{}
	if len(flowRunIDs) == 0 {
		return out, nil
	}
	w := storage.NewWhere(dialect{})
	in := dialect{}.InIDs(w, "flow_run_id", flowRunIDs)
	rows, err := s.pool.Query(ctx, `SELECT flow_run_id, count(*) FROM task_run WHERE `+in+`
		AND NOT EXISTS (SELECT 1 FROM flow_run AS sub WHERE sub.parent_task_run_id = task_run.id)
		GROUP BY flow_run_id`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("count task runs by flow run: %w", err)
	}
	var (
		id uuid.UUID
		n  int64
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		out[id] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count task runs by flow run: %w", err)
	}
	return out, nil
}

// NextScheduledFlowRuns implements storage.UIStore.
func (s *Store) NextScheduledFlowRuns(ctx context.Context, flowIDs []uuid.UUID) (map[uuid.UUID]storage.NextFlowRun, error) {
	out := map[uuid.UUID]storage.NextFlowRun{}
	if len(flowIDs) == 0 {
		return out, nil
	}
	w := storage.NewWhere(dialect{})
	in := dialect{}.InIDs(w, "flow_id", flowIDs)
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (flow_id) id, flow_id, name, COALESCE(state_name, ''), state_type,
		next_scheduled_start_time FROM flow_run
		WHERE `+in+` AND state_type = 'SCHEDULED' AND next_scheduled_start_time IS NOT NULL
		ORDER BY flow_id, next_scheduled_start_time ASC, id ASC`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("read next flow runs: %w", err)
	}
	var r storage.NextFlowRun
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.FlowID, &r.Name, &r.StateName, &r.StateType, &r.NextScheduledStartTime}, func() error {
		r.NextScheduledStartTime = r.NextScheduledStartTime.UTC()
		out[r.FlowID] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read next flow runs: %w", err)
	}
	return out, nil
}

// TaskRunCountsByState implements storage.UIStore.
func (s *Store) TaskRunCountsByState(ctx context.Context, q *storage.RunQuery) (map[apitype.StateType]int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.TaskRunQuery(q)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT state_type, count(*) FROM task_run
		WHERE state_type IS NOT NULL AND `+cond+` GROUP BY state_type`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("count task runs by state: %w", err)
	}
	out := map[apitype.StateType]int64{}
	var (
		typ apitype.StateType
		n   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&typ, &n}, func() error {
		out[typ] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count task runs by state: %w", err)
	}
	return out, nil
}

// TaskRunStartBuckets implements storage.UIStore.
func (s *Store) TaskRunStartBuckets(ctx context.Context, q *storage.RunQuery, start time.Time, width time.Duration, n int) ([]storage.StateTypeCounts, error) {
	out := make([]storage.StateTypeCounts, n)
	for i := range out {
		out[i] = storage.StateTypeCounts{}
	}
	widthUS := width.Microseconds()
	if n <= 0 || widthUS <= 0 {
		return out, nil
	}
	w := storage.NewWhere(dialect{})
	cond, err := w.TaskRunQuery(q)
	if err != nil {
		return nil, err
	}
	start = storage.DBTime(start)
	end := start.Add(time.Duration(widthUS*int64(n)) * time.Microsecond)
	lo := w.Bind(start)
	// extract(epoch ...) of an interval is numeric: exact microseconds.
	bucket := `((extract(epoch FROM start_time - ` + lo + `::timestamptz) * 1000000)::bigint / ` + w.Bind(widthUS) + `::bigint)`
	rows, err := s.pool.Query(ctx, `SELECT `+bucket+` AS bucket, state_type, count(*) FROM task_run
		WHERE start_time >= `+lo+`::timestamptz AND start_time < `+w.Bind(end)+`::timestamptz
		AND state_type IS NOT NULL AND `+cond+` GROUP BY bucket, state_type`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("count task runs by start time: %w", err)
	}
	var (
		i   int64
		typ apitype.StateType
		c   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&i, &typ, &c}, func() error {
		if i >= 0 && i < int64(n) {
			out[i][typ] += c
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count task runs by start time: %w", err)
	}
	return out, nil
}

// FlowRunAverageLateness implements storage.UIStore.
func (s *Store) FlowRunAverageLateness(ctx context.Context, q *storage.RunQuery, now time.Time) (*float64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.FlowRunQuery(q)
	if err != nil {
		return nil, err
	}
	at := w.Bind(storage.DBTime(now)) + `::timestamptz`
	var avg *float64
	err = s.pool.QueryRow(ctx, `SELECT avg(CASE
		WHEN start_time > expected_start_time THEN extract(epoch FROM start_time - expected_start_time)
		WHEN start_time IS NULL AND state_type NOT IN `+terminalStateTypes+` AND expected_start_time < `+at+`
			THEN extract(epoch FROM `+at+` - expected_start_time)
		ELSE 0 END)::float8 FROM flow_run WHERE `+cond, w.Args...).Scan(&avg)
	if err != nil {
		return nil, fmt.Errorf("average flow run lateness: %w", err)
	}
	return avg, nil
}
