package storage

import (
	"fmt"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// RunDialect is what the run filters need beyond Dialect. Both engines'
// dialects implement it.
type RunDialect interface {
	Dialect
	// Time is the bind form of a timestamp column value (shared with
	// EventDialect).
	Time(t time.Time) any
	// ContainsAny matches a JSON-array column holding at least one of values.
	ContainsAny(w *Where, col string, values []string) string
	// JSONField extracts a top-level field of a JSON column as text.
	JSONField(col, key string) string
}

func (w *Where) runDialect() (RunDialect, error) {
	d, ok := w.d.(RunDialect)
	if !ok {
		return nil, fmt.Errorf("%w: dialect cannot filter runs", ErrInvalidFilter)
	}
	return d, nil
}

// The run filters below use unqualified column names: each is rendered
// inside a SELECT over the table it filters (the outer query or a subquery),
// where those names resolve to that table. Only correlations name the outer
// table explicitly.

// FlowRunQuery renders a RunQuery over the flow_run table.
func (w *Where) FlowRunQuery(q *RunQuery) (string, error) {
	if q == nil {
		return sqlTrue, nil
	}
	var preds []string
	if q.FlowRuns != nil {
		p, err := w.FlowRun(q.FlowRuns)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	if q.Flows != nil {
		p, err := w.Flow(q.Flows)
		if err != nil {
			return "", err
		}
		preds = append(preds, "(flow_id IN (SELECT id FROM flow WHERE "+p+"))")
	}
	if q.TaskRuns != nil {
		p, err := w.TaskRun(q.TaskRuns)
		if err != nil {
			return "", err
		}
		preds = append(preds, "(EXISTS (SELECT 1 FROM task_run WHERE task_run.flow_run_id = flow_run.id AND "+p+"))")
	}
	links, err := w.flowRunLinks(q)
	if err != nil {
		return "", err
	}
	preds = append(preds, links...)
	return combine(apitype.OperatorAnd, preds), nil
}

// TaskRunQuery renders a RunQuery over the task_run table.
func (w *Where) TaskRunQuery(q *RunQuery) (string, error) {
	if q == nil {
		return sqlTrue, nil
	}
	var preds []string
	if q.TaskRuns != nil {
		p, err := w.TaskRun(q.TaskRuns)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	if q.FlowRuns != nil {
		p, err := w.FlowRun(q.FlowRuns)
		if err != nil {
			return "", err
		}
		preds = append(preds, "(flow_run_id IN (SELECT id FROM flow_run WHERE "+p+"))")
	}
	if q.Flows != nil {
		p, err := w.Flow(q.Flows)
		if err != nil {
			return "", err
		}
		preds = append(preds, "(flow_run_id IN (SELECT id FROM flow_run WHERE flow_id IN (SELECT id FROM flow WHERE "+p+")))")
	}
	links, err := w.flowRunLinks(q)
	if err != nil {
		return "", err
	}
	if len(links) > 0 {
		preds = append(preds, "(flow_run_id IN (SELECT id FROM flow_run WHERE "+combine(apitype.OperatorAnd, links)+"))")
	}
	return combine(apitype.OperatorAnd, preds), nil
}

// FlowRun renders a FlowRunFilter over the flow_run table.
func (w *Where) FlowRun(f *apitype.FlowRunFilter) (string, error) {
	if f == nil {
		return sqlTrue, nil
	}
	d, err := w.runDialect()
	if err != nil {
		return "", err
	}
	if err := checkOperator(f.Operator); err != nil {
		return "", err
	}
	var preds []string
	add := func(p string, err error) error {
		if err == nil {
			preds = append(preds, p)
		}
		return err
	}
	if f.ID != nil {
		preds = append(preds, combine(apitype.OperatorAnd, w.idPreds("id", f.ID.Any, f.ID.NotAny)))
	}
	if f.Name != nil {
		preds = append(preds, w.name(f.Name))
	}
	if f.Tags != nil {
		if err := add(w.runTags(d, f.Tags.Operator, f.Tags.All, f.Tags.Any, f.Tags.IsNull)); err != nil {
			return "", err
		}
	}
	if f.DeploymentID != nil {
		if err := add(w.optionalID("deployment_id", f.DeploymentID)); err != nil {
			return "", err
		}
	}
	if f.WorkQueueName != nil {
		if err := checkOperator(f.WorkQueueName.Operator); err != nil {
			return "", err
		}
		var ps []string
		if f.WorkQueueName.Any != nil {
			ps = append(ps, d.In(w, "work_queue_name", f.WorkQueueName.Any))
		}
		ps = append(ps, runIsNull("work_queue_name", f.WorkQueueName.IsNull)...)
		preds = append(preds, combine(f.WorkQueueName.Operator, ps))
	}
	if f.State != nil {
		if err := add(w.state(f.State, true)); err != nil {
			return "", err
		}
	}
	if f.FlowVersion != nil && f.FlowVersion.Any != nil {
		preds = append(preds, d.In(w, "flow_version", f.FlowVersion.Any))
	}
	if f.StartTime != nil {
		// Prefect compares a not-yet-started run by its expected start.
		preds = append(preds, w.timeRange(d, "COALESCE(start_time, expected_start_time)", "start_time", f.StartTime))
	}
	if f.EndTime != nil {
		preds = append(preds, w.timeRange(d, "end_time", "end_time", f.EndTime))
	}
	if f.ExpectedStartTime != nil {
		preds = append(preds, w.timeRange(d, "expected_start_time", "", f.ExpectedStartTime))
	}
	if f.NextScheduledStartTime != nil {
		preds = append(preds, w.timeRange(d, "next_scheduled_start_time", "", f.NextScheduledStartTime))
	}
	if f.ParentFlowRunID != nil {
		if err := checkOperator(f.ParentFlowRunID.Operator); err != nil {
			return "", err
		}
		p := sqlTrue
		if f.ParentFlowRunID.Any != nil {
			p = "(parent_task_run_id IN (SELECT id FROM task_run WHERE " + d.InIDs(w, "flow_run_id", f.ParentFlowRunID.Any) + "))"
		}
		preds = append(preds, p)
	}
	if f.ParentTaskRunID != nil {
		if err := add(w.optionalID("parent_task_run_id", f.ParentTaskRunID)); err != nil {
			return "", err
		}
	}
	if f.IdempotencyKey != nil {
		var ps []string
		if f.IdempotencyKey.Any != nil {
			ps = append(ps, d.In(w, "idempotency_key", f.IdempotencyKey.Any))
		}
		if f.IdempotencyKey.NotAny != nil {
			ps = append(ps, "NOT "+d.In(w, "idempotency_key", f.IdempotencyKey.NotAny))
		}
		preds = append(preds, combine(apitype.OperatorAnd, ps))
	}
	if f.CreatedBy != nil {
		cb := f.CreatedBy
		if err := checkOperator(cb.Operator); err != nil {
			return "", err
		}
		var ps []string
		if cb.ID != nil {
			ps = append(ps, d.In(w, d.JSONField("created_by", "id"), UUIDStrings(cb.ID)))
		}
		if cb.Type != nil {
			ps = append(ps, d.In(w, d.JSONField("created_by", "type"), cb.Type))
		}
		ps = append(ps, runIsNull("created_by", cb.IsNull)...)
		preds = append(preds, combine(cb.Operator, ps))
	}
	return combine(f.Operator, preds), nil
}

// TaskRun renders a TaskRunFilter over the task_run table.
func (w *Where) TaskRun(f *apitype.TaskRunFilter) (string, error) {
	if f == nil {
		return sqlTrue, nil
	}
	d, err := w.runDialect()
	if err != nil {
		return "", err
	}
	if err := checkOperator(f.Operator); err != nil {
		return "", err
	}
	var preds []string
	if f.ID != nil {
		preds = append(preds, combine(apitype.OperatorAnd, w.idPreds("id", f.ID.Any, nil)))
	}
	if f.Name != nil {
		preds = append(preds, w.name(f.Name))
	}
	if f.Tags != nil {
		p, err := w.runTags(d, f.Tags.Operator, f.Tags.All, nil, f.Tags.IsNull)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	if f.State != nil {
		p, err := w.state(f.State, false)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	if f.StartTime != nil {
		preds = append(preds, w.timeRange(d, "start_time", "start_time", f.StartTime))
	}
	if f.EndTime != nil {
		preds = append(preds, w.timeRange(d, "end_time", "end_time", f.EndTime))
	}
	if f.ExpectedStartTime != nil {
		preds = append(preds, w.timeRange(d, "expected_start_time", "", f.ExpectedStartTime))
	}
	if f.SubflowRuns != nil && f.SubflowRuns.Exists != nil {
		p := "(EXISTS (SELECT 1 FROM flow_run AS sub WHERE sub.parent_task_run_id = task_run.id))"
		if !*f.SubflowRuns.Exists {
			p = "NOT " + p
		}
		preds = append(preds, p)
	}
	if fr := f.FlowRunID; fr != nil {
		if err := checkOperator(fr.Operator); err != nil {
			return "", err
		}
		// Prefect's is_null_ defaults to false here: {} alone means
		// "belongs to some flow run".
		switch {
		case fr.IsNull != nil && *fr.IsNull:
			preds = append(preds, "(flow_run_id IS NULL)")
		case fr.Any != nil:
			preds = append(preds, d.InIDs(w, "flow_run_id", fr.Any))
		default:
			preds = append(preds, "(flow_run_id IS NOT NULL)")
		}
	}
	return combine(f.Operator, preds), nil
}

func runIsNull(col string, v *bool) []string {
	if v == nil {
		return nil
	}
	if *v {
		return []string{"(" + col + " IS NULL)"}
	}
	return []string{"(" + col + " IS NOT NULL)"}
}

func (w *Where) optionalID(col string, f *apitype.FilterOptionalID) (string, error) {
	if err := checkOperator(f.Operator); err != nil {
		return "", err
	}
	var ps []string
	if f.Any != nil {
		ps = append(ps, w.d.InIDs(w, col, f.Any))
	}
	ps = append(ps, runIsNull(col, f.IsNull)...)
	return combine(f.Operator, ps), nil
}

func (w *Where) runTags(d RunDialect, op apitype.Operator, all, anyOf []string, null *bool) (string, error) {
	if err := checkOperator(op); err != nil {
		return "", err
	}
	var ps []string
	if len(all) > 0 {
		ps = append(ps, d.ContainsAll(w, "tags", all))
	}
	if anyOf != nil {
		ps = append(ps, d.ContainsAny(w, "tags", anyOf))
	}
	if null != nil {
		empty := d.EmptyArray("tags")
		if !*null {
			empty = "NOT " + empty
		}
		ps = append(ps, empty)
	}
	return combine(op, ps), nil
}

// state renders {type, name}; task run filters have no not_any_.
func (w *Where) state(f *apitype.FilterState, notAny bool) (string, error) {
	if err := checkOperator(f.Operator); err != nil {
		return "", err
	}
	var ps []string
	if t := f.Type; t != nil {
		var tp []string
		if t.Any != nil {
			tp = append(tp, w.d.In(w, "state_type", stateTypeStrings(t.Any)))
		}
		if notAny && t.NotAny != nil {
			tp = append(tp, "NOT "+w.d.In(w, "state_type", stateTypeStrings(t.NotAny)))
		}
		ps = append(ps, combine(apitype.OperatorAnd, tp))
	}
	if n := f.Name; n != nil {
		var np []string
		if n.Any != nil {
			np = append(np, w.d.In(w, "state_name", n.Any))
		}
		if notAny && n.NotAny != nil {
			np = append(np, "NOT "+w.d.In(w, "state_name", n.NotAny))
		}
		ps = append(ps, combine(apitype.OperatorAnd, np))
	}
	return combine(f.Operator, ps), nil
}

func stateTypeStrings(ts []apitype.StateType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// timeRange renders before_/after_ (inclusive) on expr and is_null_ on
// nullCol ("" when the criterion has no is_null_).
func (w *Where) timeRange(d RunDialect, expr, nullCol string, f *apitype.FilterTime) string {
	var ps []string
	if f.Before != nil {
		ps = append(ps, "("+expr+" <= "+w.Bind(d.Time(*f.Before))+")")
	}
	if f.After != nil {
		ps = append(ps, "("+expr+" >= "+w.Bind(d.Time(*f.After))+")")
	}
	if nullCol != "" {
		ps = append(ps, runIsNull(nullCol, f.IsNull)...)
	}
	return combine(apitype.OperatorAnd, ps)
}

// NULL placement follows PostgreSQL's defaults (last when ascending, first
// when descending), which is what Prefect users on PostgreSQL see; SQLite is
// told explicitly. Ties break by id so pages are stable.

// FlowRunOrderBy returns the ORDER BY list of a FlowRunSort ("" is ID_DESC).
func FlowRunOrderBy(sort string) (string, error) {
	switch sort {
	case "", apitype.FlowRunSortIDDesc:
		return "id DESC", nil
	case apitype.FlowRunSortStartTimeAsc:
		return "COALESCE(start_time, expected_start_time) ASC NULLS LAST, id ASC", nil
	case apitype.FlowRunSortStartTimeDesc:
		return "COALESCE(start_time, expected_start_time) DESC NULLS FIRST, id DESC", nil
	}
	return runOrderBy(sort, "flow run")
}

// TaskRunOrderBy returns the ORDER BY list of a TaskRunSort ("" is ID_DESC).
func TaskRunOrderBy(sort string) (string, error) {
	if sort == "" || sort == apitype.TaskRunSortIDDesc {
		return "id DESC", nil
	}
	return runOrderBy(sort, "task run")
}

func runOrderBy(sort, what string) (string, error) {
	switch sort {
	case apitype.FlowRunSortExpectedStartTimeAsc:
		return "expected_start_time ASC NULLS LAST, id ASC", nil
	case apitype.FlowRunSortExpectedStartTimeDesc:
		return "expected_start_time DESC NULLS FIRST, id DESC", nil
	case apitype.FlowRunSortNameAsc:
		return "name ASC, id ASC", nil
	case apitype.FlowRunSortNameDesc:
		return "name DESC, id DESC", nil
	case apitype.FlowRunSortNextScheduledStartTimeAsc:
		return "next_scheduled_start_time ASC NULLS LAST, id ASC", nil
	case apitype.FlowRunSortEndTimeDesc:
		return "end_time DESC NULLS FIRST, id DESC", nil
	}
	return "", fmt.Errorf("%w: %s sort %q", ErrInvalidFilter, what, sort)
}
