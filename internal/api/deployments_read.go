package api

import (
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// deploymentQuery is the body of the deployment read endpoints.
type deploymentQuery struct {
	Flows          *apitype.FlowFilter       `json:"flows"`
	FlowRuns       *apitype.FlowRunFilter    `json:"flow_runs"`
	TaskRuns       *apitype.TaskRunFilter    `json:"task_runs"`
	Deployments    *apitype.DeploymentFilter `json:"deployments"`
	WorkPools      *apitype.WorkPoolFilter   `json:"work_pools"`
	WorkPoolQueues *apitype.WorkQueueFilter  `json:"work_pool_queues"`
	Sort           *string                   `json:"sort"`
	Limit          *int                      `json:"limit"`
	Offset         *int                      `json:"offset"`
	Page           *int                      `json:"page"`
}

func (q *deploymentQuery) storage() *storage.DeploymentQuery {
	return &storage.DeploymentQuery{Deployments: q.Deployments, Flows: q.Flows, FlowRuns: q.FlowRuns,
		TaskRuns: q.TaskRuns, WorkPools: q.WorkPools, WorkQueues: q.WorkPoolQueues}
}

func (q *deploymentQuery) sort() string {
	if q.Sort == nil {
		return apitype.DeploymentSortNameAsc
	}
	return *q.Sort
}

func decodeDeploymentQuery(r *http.Request) (*deploymentQuery, []byte, error) {
	var q deploymentQuery
	raw, err := decodeBody(r, &q, true)
	if err != nil {
		return nil, raw, err
	}
	if q.Sort != nil {
		if err := checkEnum(raw, "sort", *q.Sort, apitype.DeploymentSortCreatedDesc, apitype.DeploymentSortUpdatedDesc,
			apitype.DeploymentSortNameAsc, apitype.DeploymentSortNameDesc); err != nil {
			return nil, raw, err
		}
	}
	return &q, raw, nil
}

func (a *app) listDeployments(r *http.Request, q *deploymentQuery, win window) ([]apitype.Deployment, error) {
	out := []apitype.Deployment{}
	if win.empty() {
		return out, nil
	}
	ds, err := a.store.DeploymentList(r.Context(), &storage.DeploymentListParams{DeploymentQuery: *q.storage(),
		Sort: q.sort(), Limit: win.limit, Offset: win.offset})
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	for i := range ds {
		out = append(out, *presentDeployment(&ds[i]))
	}
	return out, nil
}

func (a *app) deploymentFilter(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := decodeDeploymentQuery(r)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, q.Limit, q.Offset)
	if err != nil {
		return err
	}
	out, err := a.listDeployments(r, q, win)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) deploymentCount(w http.ResponseWriter, r *http.Request) error {
	q, _, err := decodeDeploymentQuery(r)
	if err != nil {
		return err
	}
	n, err := a.store.DeploymentCount(r.Context(), q.storage())
	if err != nil {
		return fmt.Errorf("count deployments: %w", err)
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (a *app) deploymentPaginate(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := decodeDeploymentQuery(r)
	if err != nil {
		return err
	}
	win, page, err := a.pageWindow(raw, q.Limit, q.Page)
	if err != nil {
		return err
	}
	results, err := a.listDeployments(r, q, win)
	if err != nil {
		return err
	}
	count, err := a.store.DeploymentCount(r.Context(), q.storage())
	if err != nil {
		return fmt.Errorf("count deployments: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "count": count, "limit": win.limit,
		"pages": pages(count, win.limit), "page": page})
	return nil
}

func (a *app) deploymentBulkDelete(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Deployments *apitype.DeploymentFilter `json:"deployments"`
		Limit       *int                      `json:"limit"`
	}
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	limit := deploymentBulkDeleteLimit
	if body.Limit != nil {
		limit = *body.Limit
	}
	if err := checkMin(raw, "limit", limit, 1); err != nil {
		return err
	}
	if err := checkMax(raw, "limit", limit, deploymentBulkDeleteLimit); err != nil {
		return err
	}
	ids, err := a.store.DeploymentDeleteMany(r.Context(), &storage.DeploymentQuery{Deployments: body.Deployments}, limit)
	if err != nil {
		return fmt.Errorf("delete deployments: %w", err)
	}
	if ids == nil {
		ids = []uuid.UUID{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": ids})
	return nil
}
