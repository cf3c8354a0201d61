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

// epochMicros is the integer microseconds since the epoch of a time column.
// SQLite's date functions round to milliseconds, so the fixed-width text
// (timeLayout) is split: whole seconds through unixepoch, the fraction as
// an integer.
func epochMicros(col string) string {
	return "(unixepoch(substr(" + col + ", 1, 19)) * 1000000 + CAST(substr(" + col + ", 21, 6) AS INTEGER))"
}

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
	rows, err := s.reader.QueryContext(ctx, `SELECT id, state_type, state_timestamp, start_time, expected_start_time,
		total_run_time FROM flow_run WHERE state_type IS NOT NULL AND COALESCE(start_time, expected_start_time) IS NOT NULL
		AND `+cond+` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list flow run history: %w", err)
	}
	defer rows.Close()
	out := []storage.SimpleFlowRun{}
	for rows.Next() {
		var (
			r                   storage.SimpleFlowRun
			id                  string
			stateTS, start, exp sql.NullString
			totalUS             int64
		)
		if err := rows.Scan(&id, &r.StateType, &stateTS, &start, &exp, &totalUS); err != nil {
			return nil, fmt.Errorf("list flow run history: %w", err)
		}
		if r.ID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("decode flow run id: %w", err)
		}
		if r.StateTimestamp, err = optTime(stateTS); err != nil {
			return nil, err
		}
		if r.StartTime, err = optTime(start); err != nil {
			return nil, err
		}
		if r.ExpectedStartTime, err = optTime(exp); err != nil {
			return nil, err
		}
		r.TotalRunTime = time.Duration(totalUS) * time.Microsecond
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
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
	rows, err := s.reader.QueryContext(ctx, `SELECT flow_run_id, count(*) FROM task_run WHERE `+in+`
		AND NOT EXISTS (SELECT 1 FROM flow_run AS sub WHERE sub.parent_task_run_id = task_run.id)
		GROUP BY flow_run_id`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("count task runs by flow run: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			n  int64
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count task runs by flow run: %w", err)
		}
		fr, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("decode flow run id: %w", err)
		}
		out[fr] = n
	}
	if err := rows.Err(); err != nil {
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
	rows, err := s.reader.QueryContext(ctx, `SELECT id, flow_id, name, COALESCE(state_name, ''), state_type, next_scheduled_start_time
		FROM (SELECT id, flow_id, name, state_name, state_type, next_scheduled_start_time,
			row_number() OVER (PARTITION BY flow_id ORDER BY next_scheduled_start_time ASC, id ASC) AS rn
			FROM flow_run WHERE `+in+` AND state_type = 'SCHEDULED' AND next_scheduled_start_time IS NOT NULL)
		WHERE rn = 1`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("read next flow runs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r            storage.NextFlowRun
			id, flow, ts string
		)
		if err := rows.Scan(&id, &flow, &r.Name, &r.StateName, &r.StateType, &ts); err != nil {
			return nil, fmt.Errorf("read next flow runs: %w", err)
		}
		if r.ID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("decode flow run id: %w", err)
		}
		if r.FlowID, err = uuid.Parse(flow); err != nil {
			return nil, fmt.Errorf("decode flow id: %w", err)
		}
		if r.NextScheduledStartTime, err = decodeTime(ts); err != nil {
			return nil, err
		}
		out[r.FlowID] = r
	}
	if err := rows.Err(); err != nil {
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
	rows, err := s.reader.QueryContext(ctx, `SELECT state_type, count(*) FROM task_run
		WHERE state_type IS NOT NULL AND `+cond+` GROUP BY state_type`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("count task runs by state: %w", err)
	}
	defer rows.Close()
	out := map[apitype.StateType]int64{}
	for rows.Next() {
		var (
			typ apitype.StateType
			n   int64
		)
		if err := rows.Scan(&typ, &n); err != nil {
			return nil, fmt.Errorf("count task runs by state: %w", err)
		}
		out[typ] = n
	}
	if err := rows.Err(); err != nil {
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
	// SQLite binds "?" by position: parameters are bound in text order.
	w := storage.NewWhere(dialect{})
	start = storage.DBTime(start)
	end := start.Add(time.Duration(widthUS*int64(n)) * time.Microsecond)
	bucket := `((` + epochMicros("start_time") + ` - ` + w.Bind(start.UnixMicro()) + `) / ` + w.Bind(widthUS) + `)`
	lo, hi := w.Bind(encodeTime(start)), w.Bind(encodeTime(end))
	cond, err := w.TaskRunQuery(q)
	if err != nil {
		return nil, err
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+bucket+` AS bucket, state_type, count(*) FROM task_run
		WHERE start_time >= `+lo+` AND start_time < `+hi+` AND state_type IS NOT NULL AND `+cond+`
		GROUP BY bucket, state_type`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("count task runs by start time: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			i   int64
			typ apitype.StateType
			c   int64
		)
		if err := rows.Scan(&i, &typ, &c); err != nil {
			return nil, fmt.Errorf("count task runs by start time: %w", err)
		}
		if i >= 0 && i < int64(n) {
			out[i][typ] += c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count task runs by start time: %w", err)
	}
	return out, nil
}

// FlowRunAverageLateness implements storage.UIStore.
func (s *Store) FlowRunAverageLateness(ctx context.Context, q *storage.RunQuery, now time.Time) (*float64, error) {
	w := storage.NewWhere(dialect{})
	nowText, nowUS := w.Bind(encodeTime(now)), w.Bind(storage.DBTime(now).UnixMicro())
	cond, err := w.FlowRunQuery(q)
	if err != nil {
		return nil, err
	}
	var avg sql.NullFloat64
	err = s.reader.QueryRowContext(ctx, `SELECT avg(CASE
		WHEN start_time > expected_start_time THEN (`+epochMicros("start_time")+` - `+epochMicros("expected_start_time")+`) / 1000000.0
		WHEN start_time IS NULL AND state_type NOT IN `+terminalStateTypes+` AND expected_start_time < `+nowText+`
			THEN (`+nowUS+` - `+epochMicros("expected_start_time")+`) / 1000000.0
		ELSE 0 END) FROM flow_run WHERE `+cond, w.Args...).Scan(&avg)
	if err != nil {
		return nil, fmt.Errorf("average flow run lateness: %w", err)
	}
	if !avg.Valid {
		return nil, nil
	}
	return &avg.Float64, nil
}
