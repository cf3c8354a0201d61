package storage

import (
	"fmt"

	"github.com/warden-orchestration/warden/apitype"
)

// Deployment renders a DeploymentFilter over the deployment table (its
// columns unqualified, as for the other filters). nil matches every row.
func (w *Where) Deployment(f *apitype.DeploymentFilter) (string, error) {
	if f == nil {
		return sqlTrue, nil
	}
	if err := checkOperator(f.Operator); err != nil {
		return "", err
	}
	var preds []string
	if f.ID != nil {
		preds = append(preds, combine(apitype.OperatorAnd, w.idPreds("id", f.ID.Any, f.ID.NotAny)))
	}
	if f.Name != nil {
		preds = append(preds, w.name(&apitype.FilterName{Any: f.Name.Any, Like: f.Name.Like}))
	}
	if f.FlowOrDeploymentName != nil && f.FlowOrDeploymentName.Like != nil && *f.FlowOrDeploymentName.Like != "" {
		pat := LikeWildcards(*f.FlowOrDeploymentName.Like)
		preds = append(preds, "("+w.d.ILike(w, "name", pat)+" OR flow_id IN (SELECT id FROM flow WHERE "+
			w.d.ILike(w, "name", pat)+"))")
	}
	if f.Paused != nil && f.Paused.EqualTo != nil {
		p := "(paused)"
		if !*f.Paused.EqualTo {
			p = "(NOT paused)"
		}
		preds = append(preds, p)
	}
	if f.Tags != nil {
		d, err := w.runDialect()
		if err != nil {
			return "", err
		}
		p, err := w.runTags(d, f.Tags.Operator, f.Tags.All, f.Tags.Any, f.Tags.IsNull)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	if f.WorkQueueName != nil && f.WorkQueueName.Any != nil {
		preds = append(preds, w.d.In(w, "work_queue_name", f.WorkQueueName.Any))
	}
	// concurrency_limit is deprecated in Prefect and matches every row.
	return combine(f.Operator, preds), nil
}

// DeploymentQuery renders a DeploymentQuery over the deployment table.
func (w *Where) DeploymentQuery(q *DeploymentQuery) (string, error) {
	if q == nil {
		return sqlTrue, nil
	}
	p, err := w.Deployment(q.Deployments)
	if err != nil {
		return "", err
	}
	preds := []string{p}
	if q.Flows != nil {
		p, err := w.Flow(q.Flows)
		if err != nil {
			return "", err
		}
		preds = append(preds, "(flow_id IN (SELECT id FROM flow WHERE "+p+"))")
	}
	if q.FlowRuns != nil || q.TaskRuns != nil {
		p, err := w.flowRunExists("flow_run.deployment_id = deployment.id", q.FlowRuns, nil, q.TaskRuns)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	if q.WorkPools != nil || q.WorkQueues != nil {
		p, err := w.workQueueIn("work_queue_id", q.WorkPools, q.WorkQueues)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	return combine(apitype.OperatorAnd, preds), nil
}

// workQueueIn renders "col names a work queue matching queues whose pool
// matches pools" (either filter may be nil; a NULL col never matches).
func (w *Where) workQueueIn(col string, pools *apitype.WorkPoolFilter, queues *apitype.WorkQueueFilter) (string, error) {
	qp, err := w.WorkQueue(queues)
	if err != nil {
		return "", err
	}
	preds := []string{qp}
	if pools != nil {
		pp, err := w.WorkPool(pools)
		if err != nil {
			return "", err
		}
		preds = append(preds, "(wq.work_pool_id IN (SELECT id FROM work_pool WHERE "+pp+"))")
	}
	return "(" + col + " IN (SELECT wq.id FROM work_queue wq WHERE " + combine(apitype.OperatorAnd, preds) + "))", nil
}

// flowRunLinks renders the deployment and work pool filters of a RunQuery
// over the flow_run table: its deployment matches Deployments, its work
// queue matches WorkQueues and that queue's pool WorkPools.
func (w *Where) flowRunLinks(q *RunQuery) ([]string, error) {
	var preds []string
	if q.Deployments != nil {
		p, err := w.Deployment(q.Deployments)
		if err != nil {
			return nil, err
		}
		preds = append(preds, "(deployment_id IN (SELECT id FROM deployment WHERE "+p+"))")
	}
	if q.WorkPools != nil || q.WorkQueues != nil {
		p, err := w.workQueueIn("work_queue_id", q.WorkPools, q.WorkQueues)
		if err != nil {
			return nil, err
		}
		preds = append(preds, p)
	}
	return preds, nil
}

// DeploymentOrderBy returns the ORDER BY list of a DeploymentSort ("" is
// NAME_ASC, Prefect's default), qualified by the table name "deployment" so
// it also orders a join. Ties break by id so pages are stable.
func DeploymentOrderBy(sort string) (string, error) {
	switch sort {
	case "", apitype.DeploymentSortNameAsc:
		return "deployment.name ASC, deployment.id ASC", nil
	case apitype.DeploymentSortNameDesc:
		return "deployment.name DESC, deployment.id DESC", nil
	case apitype.DeploymentSortCreatedDesc:
		return "deployment.created DESC, deployment.id DESC", nil
	case apitype.DeploymentSortUpdatedDesc:
		return "deployment.updated DESC, deployment.id DESC", nil
	}
	return "", fmt.Errorf("%w: deployment sort %q", ErrInvalidFilter, sort)
}

// flowDeploymentExists renders "the flow has a deployment matching
// deployments whose work queue's pool matches pools" over the flow table.
func (w *Where) flowDeploymentExists(deployments *apitype.DeploymentFilter, pools *apitype.WorkPoolFilter) (string, error) {
	p, err := w.Deployment(deployments)
	if err != nil {
		return "", err
	}
	preds := []string{"(deployment.flow_id = flow.id)", p}
	if pools != nil {
		q, err := w.workQueueIn("work_queue_id", pools, nil)
		if err != nil {
			return "", err
		}
		preds = append(preds, q)
	}
	return "(EXISTS (SELECT 1 FROM deployment WHERE " + combine(apitype.OperatorAnd, preds) + "))", nil
}
