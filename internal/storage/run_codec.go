package storage

import (
	"encoding/json"
	"fmt"

	"github.com/warden-orchestration/warden/apitype"
)

// The engines store a run's structured fields as JSON text; these helpers
// are the one encoding both use, so a row reads back the same everywhere.

// RunJSON holds the JSON-text columns of a flow_run or task_run row.
// Nullable columns are nil pointers.
type RunJSON struct {
	Parameters      string // flow runs
	Context         string // flow runs
	TaskInputs      string // task runs
	EmpiricalPolicy string
	Tags            string
	Labels          *string
	CreatedBy       *string // flow runs
	JobVariables    *string // flow runs
}

// EncodeFlowRunJSON renders the JSON columns of a flow run. Absent
// parameters and context are stored as {}.
func EncodeFlowRunJSON(r *apitype.FlowRun) (RunJSON, error) {
	j := RunJSON{Parameters: rawOr(r.Parameters, "{}"), Context: rawOr(r.Context, "{}"), Tags: JSONList(r.Tags)}
	var err error
	if j.EmpiricalPolicy, err = marshalText(r.EmpiricalPolicy); err != nil {
		return j, err
	}
	if j.Labels, err = optJSON(r.Labels, r.Labels == nil); err != nil {
		return j, err
	}
	if j.CreatedBy, err = optJSON(r.CreatedBy, r.CreatedBy == nil); err != nil {
		return j, err
	}
	if len(r.JobVariables) > 0 && string(r.JobVariables) != "null" {
		s := string(r.JobVariables)
		j.JobVariables = &s
	}
	return j, nil
}

// DecodeFlowRun fills the JSON-backed fields of r.
func (j RunJSON) DecodeFlowRun(r *apitype.FlowRun) error {
	r.Parameters = json.RawMessage(rawOr(json.RawMessage(j.Parameters), "{}"))
	r.Context = json.RawMessage(rawOr(json.RawMessage(j.Context), "{}"))
	if j.JobVariables != nil {
		r.JobVariables = json.RawMessage(*j.JobVariables)
	}
	if err := json.Unmarshal([]byte(rawOr(json.RawMessage(j.EmpiricalPolicy), "{}")), &r.EmpiricalPolicy); err != nil {
		return fmt.Errorf("decode empirical_policy: %w", err)
	}
	if r.EmpiricalPolicy.PauseKeys == nil {
		r.EmpiricalPolicy.PauseKeys = []string{}
	}
	var err error
	if r.Tags, err = decodeTagList(j.Tags); err != nil {
		return err
	}
	if j.Labels != nil {
		if err := json.Unmarshal([]byte(*j.Labels), &r.Labels); err != nil {
			return fmt.Errorf("decode labels: %w", err)
		}
	}
	if j.CreatedBy != nil {
		if err := json.Unmarshal([]byte(*j.CreatedBy), &r.CreatedBy); err != nil {
			return fmt.Errorf("decode created_by: %w", err)
		}
	}
	return nil
}

// EncodeTaskRunJSON renders the JSON columns of a task run.
func EncodeTaskRunJSON(r *apitype.TaskRun) (RunJSON, error) {
	j := RunJSON{Tags: JSONList(r.Tags)}
	var err error
	if j.EmpiricalPolicy, err = marshalText(r.EmpiricalPolicy); err != nil {
		return j, err
	}
	inputs := r.TaskInputs
	if inputs == nil {
		inputs = map[string][]apitype.TaskRunInput{}
	}
	if j.TaskInputs, err = marshalText(inputs); err != nil {
		return j, err
	}
	if j.Labels, err = optJSON(r.Labels, r.Labels == nil); err != nil {
		return j, err
	}
	return j, nil
}

// DecodeTaskRun fills the JSON-backed fields of r.
func (j RunJSON) DecodeTaskRun(r *apitype.TaskRun) error {
	if err := json.Unmarshal([]byte(rawOr(json.RawMessage(j.EmpiricalPolicy), "{}")), &r.EmpiricalPolicy); err != nil {
		return fmt.Errorf("decode empirical_policy: %w", err)
	}
	r.TaskInputs = map[string][]apitype.TaskRunInput{}
	if err := json.Unmarshal([]byte(rawOr(json.RawMessage(j.TaskInputs), "{}")), &r.TaskInputs); err != nil {
		return fmt.Errorf("decode task_inputs: %w", err)
	}
	var err error
	if r.Tags, err = decodeTagList(j.Tags); err != nil {
		return err
	}
	if j.Labels != nil {
		if err := json.Unmarshal([]byte(*j.Labels), &r.Labels); err != nil {
			return fmt.Errorf("decode labels: %w", err)
		}
	}
	return nil
}

// EncodeStateJSON renders a state's state_details and data columns.
func EncodeStateJSON(s *apitype.State) (details string, data *string, err error) {
	if details, err = marshalText(s.StateDetails); err != nil {
		return "", nil, err
	}
	if len(s.Data) > 0 && string(s.Data) != "null" {
		d := string(s.Data)
		data = &d
	}
	return details, data, nil
}

// DecodeStateJSON fills a state's details and data from its columns.
func DecodeStateJSON(s *apitype.State, details string, data *string) error {
	if err := json.Unmarshal([]byte(rawOr(json.RawMessage(details), "{}")), &s.StateDetails); err != nil {
		return fmt.Errorf("decode state_details: %w", err)
	}
	if data != nil {
		s.Data = json.RawMessage(*data)
	}
	return nil
}

// MarshalPolicy renders an empirical policy column.
func MarshalPolicy(p any) (string, error) { return marshalText(p) }

func marshalText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode json column: %w", err)
	}
	return string(b), nil
}

func optJSON(v any, isNil bool) (*string, error) {
	if isNil {
		return nil, nil
	}
	s, err := marshalText(v)
	return &s, err
}

func rawOr(raw json.RawMessage, def string) string {
	if len(raw) == 0 || string(raw) == "null" {
		return def
	}
	return string(raw)
}

func decodeTagList(s string) ([]string, error) {
	tags := []string{}
	if s == "" {
		return tags, nil
	}
	if err := json.Unmarshal([]byte(s), &tags); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}
