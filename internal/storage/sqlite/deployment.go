package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

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

func scanDeployment(r rowScanner) (*apitype.Deployment, error) {
	var (
		d                                   apitype.Deployment
		id, created, updated, flowID        string
		lastPolled, wqID, storDoc, infraDoc sql.NullString
		wqName, poolName                    sql.NullString
		j                                   storage.DeploymentJSON
		clID, clCreated, clUpdated, clName  sql.NullString
		clActive                            sql.NullBool
		clLimit, clSlots, clDenied          sql.NullInt64
		clDecay, clAvg                      sql.NullFloat64
	)
	if err := r.Scan(&id, &created, &updated, &d.Name, &d.Version, &d.Description, &flowID, &d.Paused, &d.Status,
		&lastPolled, &d.WorkQueueName, &wqID, &j.ConcurrencyOptions, &j.JobVariables, &j.Parameters,
		&j.ParameterOpenAPISchema, &d.EnforceParameterSchema, &j.Tags, &j.Labels, &d.Path, &d.Entrypoint, &j.PullSteps,
		&storDoc, &infraDoc, &j.CreatedBy, &j.UpdatedBy, &wqName, &poolName,
		&clID, &clCreated, &clUpdated, &clActive, &clName, &clLimit, &clSlots, &clDenied, &clDecay, &clAvg); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if d.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode deployment id: %w", err)
	}
	if d.FlowID, err = uuid.Parse(flowID); err != nil {
		return nil, fmt.Errorf("decode flow id: %w", err)
	}
	if d.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if d.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	if d.LastPolled, err = decodeNullTime(lastPolled); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		src sql.NullString
		dst **uuid.UUID
	}{{wqID, &d.WorkQueueID}, {storDoc, &d.StorageDocumentID}, {infraDoc, &d.InfrastructureDocumentID}} {
		if !f.src.Valid {
			continue
		}
		u, err := uuid.Parse(f.src.String)
		if err != nil {
			return nil, fmt.Errorf("decode deployment: %w", err)
		}
		*f.dst = &u
	}
	// As Prefect's response: the queue's current name and its pool's.
	if wqName.Valid {
		d.WorkQueueName = &wqName.String
	}
	if poolName.Valid {
		d.WorkPoolName = &poolName.String
	}
	if err := j.Decode(&d); err != nil {
		return nil, err
	}
	if clID.Valid {
		l := apitype.ConcurrencyLimitV2{Active: clActive.Bool, Name: clName.String, Limit: int(clLimit.Int64),
			ActiveSlots: int(clSlots.Int64), DeniedSlots: int(clDenied.Int64), SlotDecayPerSecond: clDecay.Float64,
			AvgSlotOccupancySeconds: clAvg.Float64}
		if l.ID, err = uuid.Parse(clID.String); err != nil {
			return nil, fmt.Errorf("decode concurrency limit id: %w", err)
		}
		if l.Created, err = decodeTime(clCreated.String); err != nil {
			return nil, err
		}
		if l.Updated, err = decodeTime(clUpdated.String); err != nil {
			return nil, err
		}
		resp := l.Response()
		d.GlobalConcurrencyLimit = &resp
	}
	d.Schedules = []apitype.DeploymentSchedule{}
	return &d, nil
}

func decodeNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := decodeTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// queryDeployments runs selectDeployments and attaches the schedules.
func queryDeployments(ctx context.Context, q queryer, w *storage.Where, cond, order, page string) ([]apitype.Deployment, error) {
	rows, err := q.QueryContext(ctx, selectDeployments(cond, order, page), w.Args...)
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
	scheds, err := querySchedules(ctx, q, `deployment_id IN (SELECT value FROM json_each(?))`,
		storage.JSONList(storage.UUIDStrings(ids)))
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
	w := storage.NewWhere(dialect{})
	w.Args = args
	ds, err := queryDeployments(ctx, q, w, where, "deployment.id", "")
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
	return getDeployment(ctx, s.reader, `id = ?`, id.String())
}

// DeploymentGetByName implements storage.Store.
func (s *Store) DeploymentGetByName(ctx context.Context, flowName, name string) (*apitype.Deployment, error) {
	return getDeployment(ctx, s.reader, `name = ? AND flow_id = (SELECT id FROM flow WHERE flow.name = ?)`, name, flowName)
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
	return queryDeployments(ctx, s.reader, w, cond, order, pageClause(w, p.Limit, p.Offset))
}

// DeploymentCount implements storage.Store.
func (s *Store) DeploymentCount(ctx context.Context, q *storage.DeploymentQuery) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.DeploymentQuery(q)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM deployment WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deployments: %w", err)
	}
	return n, nil
}

// resolveWorkQueue finds (creating when missing) the queue a deployment
// names, as Prefect's create/update: pool and queue → that queue of the
// pool; pool only → the pool's default queue; queue only → that queue of
// the default agent pool. nil when neither is named.
func resolveWorkQueue(ctx context.Context, tx *sql.Tx, pool, queue *string, now time.Time) (*string, error) {
	if pool == nil && queue == nil {
		return nil, nil
	}
	var poolID string
	if pool != nil {
		var defQueue sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT id, default_queue_id FROM work_pool WHERE name = ?`, *pool).Scan(&poolID, &defQueue)
		if err != nil {
			return nil, fmt.Errorf("find work pool: %w", interpretError(err))
		}
		if queue == nil {
			if !defQueue.Valid {
				return nil, fmt.Errorf("work pool %q has no default queue: %w", *pool, storage.ErrNotFound)
			}
			return &defQueue.String, nil
		}
	} else {
		id, err := ensureAgentPool(ctx, tx, now)
		if err != nil {
			return nil, err
		}
		poolID = id
	}
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM work_queue WHERE work_pool_id = ? AND name = ?`, poolID, *queue).Scan(&id)
	if err == nil {
		return &id, nil
	}
	if err = interpretError(err); err != storage.ErrNotFound {
		return nil, fmt.Errorf("find work queue: %w", err)
	}
	prio, err := firstFreePriority(ctx, tx, poolID, nil)
	if err != nil {
		return nil, err
	}
	id, ts := uuid.NewString(), encodeTime(now)
	if _, err := tx.ExecContext(ctx, `INSERT INTO work_queue (id, created, updated, name, priority, work_pool_id)
		VALUES (?, ?, ?, ?, ?, ?)`, id, ts, ts, *queue, prio, poolID); err != nil {
		return nil, fmt.Errorf("create work queue: %w", interpretError(err))
	}
	return &id, nil
}

// ensureAgentPool returns the id of Prefect's default agent pool, creating
// it (with its default queue) when missing.
func ensureAgentPool(ctx context.Context, tx *sql.Tx, now time.Time) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM work_pool WHERE name = ?`, apitype.DefaultAgentWorkPool).Scan(&id)
	if err == nil {
		return id, nil
	}
	if err = interpretError(err); err != storage.ErrNotFound {
		return "", fmt.Errorf("find default agent pool: %w", err)
	}
	id, queueID, ts := uuid.NewString(), uuid.NewString(), encodeTime(now)
	if _, err := tx.ExecContext(ctx, `INSERT INTO work_pool (id, created, updated, name, type, default_queue_id)
		VALUES (?, ?, ?, ?, ?, ?)`, id, ts, ts, apitype.DefaultAgentWorkPool, apitype.WorkPoolTypeAgent, queueID); err != nil {
		return "", fmt.Errorf("create default agent pool: %w", interpretError(err))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO work_queue (id, created, updated, name, description, priority, work_pool_id)
		VALUES (?, ?, ?, ?, ?, 1, ?)`, queueID, ts, ts, apitype.DefaultWorkQueueName, apitype.DefaultWorkQueueComment, id); err != nil {
		return "", fmt.Errorf("create default agent queue: %w", interpretError(err))
	}
	return id, nil
}

// setClause accumulates "col = ?" assignments of an UPDATE.
type setClause struct {
	sets []string
	args []any
}

func (c *setClause) add(col string, v any) {
	c.sets = append(c.sets, col+" = ?")
	c.args = append(c.args, v)
}

func (c *setClause) sql() string { return strings.Join(c.sets, ", ") }
