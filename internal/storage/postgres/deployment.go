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

// selectDeployments reads deployments matching cond (over the deployment
// table) with their live work queue and pool names and their v2 limit.
// order (qualified by "deployment") sorts both the page and the result.
func selectDeployments(cond, order, page string) string {
	return `SELECT deployment.id, deployment.created, deployment.updated, deployment.name, deployment.version,
		deployment.description, deployment.flow_id, deployment.paused, deployment.status, deployment.last_polled,
		deployment.work_queue_name, deployment.work_queue_id, deployment.concurrency_options, deployment.job_variables,
		deployment.parameters, deployment.parameter_openapi_schema, deployment.enforce_parameter_schema, deployment.tags,
		deployment.labels, deployment.path, deployment.entrypoint, deployment.pull_steps, deployment.storage_document_id,
		deployment.infrastructure_document_id, deployment.created_by, deployment.updated_by, wq.name, wp.name,
		cl.id, cl.created, cl.updated, cl.active, cl.name, cl."limit", cl.active_slots, cl.denied_slots,
		cl.slot_decay_per_second, cl.avg_slot_occupancy_seconds
		FROM (SELECT * FROM deployment WHERE ` + cond + ` ORDER BY ` + order + page + `) AS deployment
		LEFT JOIN work_queue wq ON wq.id = deployment.work_queue_id
		LEFT JOIN work_pool wp ON wp.id = wq.work_pool_id
		LEFT JOIN concurrency_limit_v2 cl ON cl.id = deployment.concurrency_limit_id
		ORDER BY ` + order
}

func scanDeployment(r pgx.Row) (*apitype.Deployment, error) {
	var (
		d                          apitype.Deployment
		j                          storage.DeploymentJSON
		wqName, poolName           *string
		clID                       *uuid.UUID
		clCreated, clUpdated       *time.Time
		clActive                   *bool
		clName                     *string
		clLimit, clSlots, clDenied *int64
		clDecay, clAvg             *float64
	)
	if err := r.Scan(&d.ID, &d.Created, &d.Updated, &d.Name, &d.Version, &d.Description, &d.FlowID, &d.Paused, &d.Status,
		&d.LastPolled, &d.WorkQueueName, &d.WorkQueueID, &j.ConcurrencyOptions, &j.JobVariables, &j.Parameters,
		&j.ParameterOpenAPISchema, &d.EnforceParameterSchema, &j.Tags, &j.Labels, &d.Path, &d.Entrypoint, &j.PullSteps,
		&d.StorageDocumentID, &d.InfrastructureDocumentID, &j.CreatedBy, &j.UpdatedBy, &wqName, &poolName,
		&clID, &clCreated, &clUpdated, &clActive, &clName, &clLimit, &clSlots, &clDenied, &clDecay, &clAvg); err != nil {
		return nil, interpretError(err)
	}
	d.Created, d.Updated = d.Created.UTC(), d.Updated.UTC()
	if d.LastPolled != nil {
		t := d.LastPolled.UTC()
		d.LastPolled = &t
	}
	// As Prefect's response: the queue's current name and its pool's.
	if wqName != nil {
		d.WorkQueueName = wqName
	}
	d.WorkPoolName = poolName
	if err := j.Decode(&d); err != nil {
		return nil, err
	}
	if clID != nil {
		l := apitype.ConcurrencyLimitV2{ID: *clID, Created: clCreated.UTC(), Updated: clUpdated.UTC(), Active: *clActive,
			Name: *clName, Limit: int(*clLimit), ActiveSlots: int(*clSlots), DeniedSlots: int(*clDenied),
			SlotDecayPerSecond: *clDecay, AvgSlotOccupancySeconds: *clAvg}
		resp := l.Response()
		d.GlobalConcurrencyLimit = &resp
	}
	d.Schedules = []apitype.DeploymentSchedule{}
	return &d, nil
}

// queryDeployments runs selectDeployments and attaches the schedules.
func queryDeployments(ctx context.Context, q queryer, args []any, cond, order, page string) ([]apitype.Deployment, error) {
	rows, err := q.Query(ctx, selectDeployments(cond, order, page), args...)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	out := []apitype.Deployment{}
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		out = append(out, *d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(out))
	at := make(map[uuid.UUID]int, len(out))
	for i := range out {
		ids[i], at[out[i].ID] = out[i].ID, i
	}
	scheds, err := querySchedules(ctx, q, `deployment_id = ANY($1::uuid[])`, storage.UUIDStrings(ids))
	if err != nil {
		return nil, err
	}
	for _, s := range scheds {
		d := &out[at[s.DeploymentID]]
		d.Schedules = append(d.Schedules, s)
	}
	return out, nil
}

func getDeployment(ctx context.Context, q queryer, where string, args ...any) (*apitype.Deployment, error) {
	ds, err := queryDeployments(ctx, q, args, where, "deployment.id", "")
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("get deployment: %w", storage.ErrNotFound)
	}
	return &ds[0], nil
}

// DeploymentGet implements storage.Store.
func (s *Store) DeploymentGet(ctx context.Context, id uuid.UUID) (*apitype.Deployment, error) {
	return getDeployment(ctx, s.pool, `id = $1`, id)
}

// DeploymentGetByName implements storage.Store.
func (s *Store) DeploymentGetByName(ctx context.Context, flowName, name string) (*apitype.Deployment, error) {
	return getDeployment(ctx, s.pool, `name = $1 AND flow_id = (SELECT id FROM flow WHERE flow.name = $2)`, name, flowName)
}

// DeploymentList implements storage.Store. Limit <= 0 means no limit.
func (s *Store) DeploymentList(ctx context.Context, p *storage.DeploymentListParams) ([]apitype.Deployment, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.DeploymentQuery(&p.DeploymentQuery)
	if err != nil {
		return nil, err
	}
	order, err := storage.DeploymentOrderBy(p.Sort)
	if err != nil {
		return nil, err
	}
	page := pageClause(w, p.Limit, p.Offset)
	return queryDeployments(ctx, s.pool, w.Args, cond, order, page)
}

// DeploymentCount implements storage.Store.
func (s *Store) DeploymentCount(ctx context.Context, q *storage.DeploymentQuery) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.DeploymentQuery(q)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM deployment WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deployments: %w", err)
	}
	return n, nil
}

// resolveWorkQueue finds (creating when missing) the queue a deployment
// names, as Prefect's create/update: pool and queue → that queue of the
// pool; pool only → the pool's default queue; queue only → that queue of
// the default agent pool. nil when neither is named. The pool row is
// locked, so concurrent creations rank queues one after another.
func resolveWorkQueue(ctx context.Context, tx pgx.Tx, pool, queue *string, now time.Time) (*uuid.UUID, error) {
	if pool == nil && queue == nil {
		return nil, nil
	}
	var poolID uuid.UUID
	if pool != nil {
		var defQueue *uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id, default_queue_id FROM work_pool WHERE name = $1 FOR UPDATE`, *pool).Scan(&poolID, &defQueue)
		if err != nil {
			return nil, fmt.Errorf("find work pool: %w", interpretError(err))
		}
		if queue == nil {
			if defQueue == nil {
				return nil, fmt.Errorf("work pool %q has no default queue: %w", *pool, storage.ErrNotFound)
			}
			return defQueue, nil
		}
	} else {
		id, err := ensureAgentPool(ctx, tx, now)
		if err != nil {
			return nil, err
		}
		poolID = id
	}
	var id uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM work_queue WHERE work_pool_id = $1 AND name = $2`, poolID, *queue).Scan(&id)
	if err == nil {
		return &id, nil
	}
	if err = interpretError(err); !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("find work queue: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT priority FROM work_queue WHERE work_pool_id = $1`, poolID)
	if err != nil {
		return nil, fmt.Errorf("read priorities: %w", err)
	}
	taken, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read priorities: %w", err)
	}
	id = uuid.New()
	if _, err := tx.Exec(ctx, `INSERT INTO work_queue (id, created, updated, name, priority, work_pool_id)
		VALUES ($1, $2, $2, $3, $4, $5)`, id, storage.DBTime(now), *queue, storage.FirstFreePriority(taken), poolID); err != nil {
		return nil, fmt.Errorf("create work queue: %w", interpretError(err))
	}
	return &id, nil
}

// ensureAgentPool returns the id of Prefect's default agent pool, locked,
// creating it (with its default queue) when missing.
func ensureAgentPool(ctx context.Context, tx pgx.Tx, now time.Time) (uuid.UUID, error) {
	id, queueID, ts := uuid.New(), uuid.New(), storage.DBTime(now)
	tag, err := tx.Exec(ctx, `INSERT INTO work_pool (id, created, updated, name, type, default_queue_id)
		VALUES ($1, $2, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`, id, ts, apitype.DefaultAgentWorkPool,
		apitype.WorkPoolTypeAgent, queueID)
	if err != nil {
		return uuid.Nil, fmt.Errorf("create default agent pool: %w", interpretError(err))
	}
	if tag.RowsAffected() == 1 {
		if _, err := tx.Exec(ctx, `INSERT INTO work_queue (id, created, updated, name, description, priority, work_pool_id)
			VALUES ($1, $2, $2, $3, $4, 1, $5)`, queueID, ts, apitype.DefaultWorkQueueName, apitype.DefaultWorkQueueComment, id); err != nil {
			return uuid.Nil, fmt.Errorf("create default agent queue: %w", interpretError(err))
		}
	}
	return lockPool(ctx, tx, `name = $1`, apitype.DefaultAgentWorkPool)
}
