package storage

import (
	"encoding/json"
	"fmt"

	"github.com/warden-orchestration/warden/apitype"
)

// DeploymentJSON holds the JSON-text columns of a deployment row; the
// engines share this encoding so a row reads back the same everywhere.
// Nullable columns are nil pointers.
type DeploymentJSON struct {
	ConcurrencyOptions     *string
	JobVariables           string
	Parameters             string
	ParameterOpenAPISchema *string
	Tags                   string
	Labels                 *string
	PullSteps              *string
	CreatedBy              *string
	UpdatedBy              *string
	VersionInfo            *string
}

// EncodeDeploymentJSON renders the JSON columns of an upsert. Absent
// parameters and job variables are stored as {}.
func EncodeDeploymentJSON(p *DeploymentUpsertParams) (DeploymentJSON, error) {
	j := DeploymentJSON{JobVariables: rawOr(p.JobVariables, "{}"), Parameters: rawOr(p.Parameters, "{}"),
		Tags: JSONList(p.Tags), ParameterOpenAPISchema: optRaw(p.ParameterOpenAPISchema),
		PullSteps: optRaw(p.PullSteps), VersionInfo: optRaw(p.VersionInfo)}
	var err error
	if j.ConcurrencyOptions, err = optJSON(p.ConcurrencyOptions, p.ConcurrencyOptions == nil); err != nil {
		return j, err
	}
	if j.Labels, err = optJSON(p.Labels, p.Labels == nil); err != nil {
		return j, err
	}
	if j.CreatedBy, err = optJSON(p.CreatedBy, p.CreatedBy == nil); err != nil {
		return j, err
	}
	if j.UpdatedBy, err = optJSON(p.UpdatedBy, p.UpdatedBy == nil); err != nil {
		return j, err
	}
	return j, nil
}

// OptRaw is a nullable JSON column value: nil for absent or null.
func OptRaw(raw json.RawMessage) *string { return optRaw(raw) }

// OptJSON encodes v as a nullable JSON column value (nil when isNil).
func OptJSON(v any, isNil bool) (*string, error) { return optJSON(v, isNil) }

func optRaw(raw json.RawMessage) *string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	s := string(raw)
	return &s
}

// Decode fills the JSON-backed fields of d.
func (j DeploymentJSON) Decode(d *apitype.Deployment) error {
	d.JobVariables = json.RawMessage(rawOr(json.RawMessage(j.JobVariables), "{}"))
	d.Parameters = json.RawMessage(rawOr(json.RawMessage(j.Parameters), "{}"))
	if j.ParameterOpenAPISchema != nil {
		d.ParameterOpenAPISchema = json.RawMessage(*j.ParameterOpenAPISchema)
	}
	if j.PullSteps != nil {
		d.PullSteps = json.RawMessage(*j.PullSteps)
	}
	var err error
	if d.Tags, err = decodeTagList(j.Tags); err != nil {
		return err
	}
	d.Labels = map[string]any{}
	for _, f := range []struct {
		src *string
		dst any
	}{{j.Labels, &d.Labels}, {j.ConcurrencyOptions, &d.ConcurrencyOptions}, {j.CreatedBy, &d.CreatedBy}, {j.UpdatedBy, &d.UpdatedBy}} {
		if f.src == nil {
			continue
		}
		if err := json.Unmarshal([]byte(*f.src), f.dst); err != nil {
			return fmt.Errorf("decode deployment: %w", err)
		}
	}
	if d.Labels == nil {
		d.Labels = map[string]any{}
	}
	return nil
}

// DecodeSchedule fills a schedule's JSON-backed fields.
func DecodeSchedule(s *apitype.DeploymentSchedule, schedule, params string) error {
	if err := json.Unmarshal([]byte(schedule), &s.Schedule); err != nil {
		return fmt.Errorf("decode schedule: %w", err)
	}
	s.Parameters = json.RawMessage(rawOr(json.RawMessage(params), "{}"))
	return nil
}

// EncodeSchedule renders a schedule's JSON columns.
func EncodeSchedule(s apitype.Schedule, params json.RawMessage) (schedule, parameters string, err error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", "", fmt.Errorf("encode schedule: %w", err)
	}
	return string(b), rawOr(params, "{}"), nil
}

// DeploymentLimitName is the name of the v2 limit carrying a deployment's
// concurrency_limit, as in Prefect.
func DeploymentLimitName(id fmt.Stringer) string { return "deployment:" + id.String() }

// UpdateQueueTarget is Prefect's choice of a PATCH's work queue: the named
// pool (and queue) when a pool is named; none when work_pool_name was sent
// as null; the named queue of the default agent pool when only a queue is
// named. set=false leaves the work queue unchanged.
func UpdateQueueTarget(u *DeploymentUpdateParams) (pool, queue *string, set bool) {
	named := u.WorkQueueName != nil && *u.WorkQueueName != ""
	switch {
	case u.WorkPoolName != nil && *u.WorkPoolName != "":
		if named {
			queue = u.WorkQueueName
		}
		return u.WorkPoolName, queue, true
	case u.WorkPoolNameSet:
		return nil, nil, true
	case named:
		return nil, u.WorkQueueName, true
	}
	return nil, nil, false
}

// DecodeDeploymentConcurrency builds a DeploymentConcurrency from the
// deployment's concurrency_options column and its limit (read by limit).
func DecodeDeploymentConcurrency(id interface{ String() string }, opts *string,
	limit func() (*apitype.ConcurrencyLimitV2, error)) (*DeploymentConcurrency, error) {
	d := &DeploymentConcurrency{}
	if err := d.DeploymentID.UnmarshalText([]byte(id.String())); err != nil {
		return nil, err
	}
	if opts != nil && *opts != "null" {
		d.Options = &apitype.ConcurrencyOptions{}
		if err := json.Unmarshal([]byte(*opts), d.Options); err != nil {
			return nil, fmt.Errorf("decode concurrency options: %w", err)
		}
	}
	var err error
	if d.Limit, err = limit(); err != nil {
		return nil, fmt.Errorf("read deployment limit: %w", err)
	}
	return d, nil
}
