package storage

import "github.com/warden-orchestration/warden/apitype"

// FlowQuery is the cross-entity filter of the flow read endpoints. A flow
// matches when it passes Flows and, when FlowRuns or TaskRuns is set, has at
// least one flow run passing FlowRuns that (when TaskRuns is set) has at
// least one task run passing TaskRuns. As in Prefect, a set filter without
// criteria still demands such a run: {} is "has a flow run", not TRUE.
// Deployments and WorkPools likewise demand a deployment of the flow
// matching Deployments whose work queue's pool matches WorkPools.
type FlowQuery struct {
	Flows       *apitype.FlowFilter
	FlowRuns    *apitype.FlowRunFilter
	TaskRuns    *apitype.TaskRunFilter
	Deployments *apitype.DeploymentFilter
	WorkPools   *apitype.WorkPoolFilter
}

// FlowQuery renders a FlowQuery over the flow table (nil matches every row).
func (w *Where) FlowQuery(q *FlowQuery) (string, error) {
	if q == nil {
		return sqlTrue, nil
	}
	p, err := w.Flow(q.Flows)
	if err != nil {
		return "", err
	}
	preds := []string{p}
	if q.FlowRuns != nil || q.TaskRuns != nil {
		exists, err := w.flowRunExists("flow_run.flow_id = flow.id", q.FlowRuns, nil, q.TaskRuns)
		if err != nil {
			return "", err
		}
		preds = append(preds, exists)
	}
	if q.Deployments != nil || q.WorkPools != nil {
		exists, err := w.flowDeploymentExists(q.Deployments, q.WorkPools)
		if err != nil {
			return "", err
		}
		preds = append(preds, exists)
	}
	return combine(apitype.OperatorAnd, preds), nil
}

// ArtifactRuns renders the cross-entity filters of the artifact read
// endpoints over table, "artifact" or "artifact_collection" (a constant of
// the caller, never user input). Flows and FlowRuns constrain the row's flow
// run, TaskRuns its task run; as in Prefect, a set filter without criteria
// still demands that run exists. nil matches every row.
func (w *Where) ArtifactRuns(table string, q *RunQuery) (string, error) {
	if q == nil {
		return sqlTrue, nil
	}
	var preds []string
	if q.Flows != nil || q.FlowRuns != nil {
		exists, err := w.flowRunExists("flow_run.id = "+table+".flow_run_id", q.FlowRuns, q.Flows, nil)
		if err != nil {
			return "", err
		}
		preds = append(preds, exists)
	}
	if q.TaskRuns != nil {
		p, err := w.TaskRun(q.TaskRuns)
		if err != nil {
			return "", err
		}
		preds = append(preds, "(EXISTS (SELECT 1 FROM task_run WHERE task_run.id = "+table+".task_run_id AND "+p+"))")
	}
	return combine(apitype.OperatorAnd, preds), nil
}

// flowRunExists renders EXISTS over flow_run rows satisfying correlation
// (which names the outer table) and each non-nil filter: runs on the run
// itself, flows on its flow, tasks on at least one of its task runs. The
// filters' unqualified columns resolve to the innermost table, so each is
// rendered inside a SELECT over the table it filters.
func (w *Where) flowRunExists(correlation string, runs *apitype.FlowRunFilter,
	flows *apitype.FlowFilter, tasks *apitype.TaskRunFilter) (string, error) {
	preds := []string{"(" + correlation + ")"}
	if runs != nil {
		p, err := w.FlowRun(runs)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	if flows != nil {
		p, err := w.Flow(flows)
		if err != nil {
			return "", err
		}
		preds = append(preds, "(flow_id IN (SELECT id FROM flow WHERE "+p+"))")
	}
	if tasks != nil {
		p, err := w.TaskRun(tasks)
		if err != nil {
			return "", err
		}
		preds = append(preds, "(EXISTS (SELECT 1 FROM task_run WHERE task_run.flow_run_id = flow_run.id AND "+p+"))")
	}
	return "(EXISTS (SELECT 1 FROM flow_run WHERE " + combine(apitype.OperatorAnd, preds) + "))", nil
}

// ArtifactQuery renders an ArtifactFilter and the run filters (see
// ArtifactRuns) over the artifact table.
func (w *Where) ArtifactQuery(f *apitype.ArtifactFilter, runs *RunQuery) (string, error) {
	p, err := w.Artifact(f)
	if err != nil {
		return "", err
	}
	r, err := w.ArtifactRuns("artifact", runs)
	if err != nil {
		return "", err
	}
	return combine(apitype.OperatorAnd, []string{p, r}), nil
}

// ArtifactCollectionQuery renders an ArtifactCollectionFilter and the run
// filters over the artifact_collection table, whose flow_run_id and
// task_run_id are those of the key's latest artifact.
func (w *Where) ArtifactCollectionQuery(f *apitype.ArtifactCollectionFilter, runs *RunQuery) (string, error) {
	p, err := w.ArtifactCollection(f)
	if err != nil {
		return "", err
	}
	r, err := w.ArtifactRuns("artifact_collection", runs)
	if err != nil {
		return "", err
	}
	return combine(apitype.OperatorAnd, []string{p, r}), nil
}
