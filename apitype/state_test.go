package apitype

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// compileOpenAPISchema compiles components/schemas/<name> of the pinned
// Prefect OpenAPI document (found by walking up to shared/reference).
func compileOpenAPISchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	var path string
	for {
		p := filepath.Join(dir, "shared", "reference", "prefect-openapi.json")
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "shared/reference/prefect-openapi.json not found")
		dir = parent
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const url = "https://warden.invalid/openapi.json"
	require.NoError(t, c.AddResource(url, doc))
	sch, err := c.Compile(url + "#/components/schemas/" + name)
	require.NoError(t, err)
	return sch
}

func validateAgainst(t *testing.T, sch *jsonschema.Schema, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst), "%s", b)
	return b
}

func sampleState() *State {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	id, fr := uuid.New(), uuid.New()
	return &State{
		ID: id, Type: StateTypeScheduled, Name: StateNameAwaitingRetry, Timestamp: at,
		Message: ptrTo("retrying"), Data: json.RawMessage(`{"type":"reference","storage_key":"k"}`),
		StateDetails: StateDetails{FlowRunID: &fr, ScheduledTime: &at, RunInputKeyset: map[string]string{"a": "b"}},
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestStateJSONMatchesOpenAPI(t *testing.T) {
	sch := compileOpenAPISchema(t, "State")
	b := validateAgainst(t, sch, sampleState())
	validateAgainst(t, sch, &State{ID: uuid.New(), Type: StateTypeRunning, Name: "Running", Timestamp: time.Now().UTC()})

	// Every StateDetails property Prefect documents is emitted, with nulls.
	var got struct {
		StateDetails map[string]any `json:"state_details"`
	}
	require.NoError(t, json.Unmarshal(b, &got))
	props := openAPIProperties(t, "StateDetails")
	require.Len(t, got.StateDetails, len(props))
	for p := range props {
		require.Contains(t, got.StateDetails, p)
	}
	require.Nil(t, got.StateDetails["task_run_id"])
	require.Equal(t, false, got.StateDetails["deferred"])

	bad, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"id":"x","type":"NOPE"}`)))
	require.NoError(t, err)
	require.Error(t, sch.Validate(bad), "the validator can fail")
}

func openAPIProperties(t *testing.T, name string) map[string]any {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "shared", "reference", "prefect-openapi.json")); err == nil {
			var doc struct {
				Components struct {
					Schemas map[string]struct {
						Properties map[string]any `json:"properties"`
					} `json:"schemas"`
				} `json:"components"`
			}
			require.NoError(t, json.Unmarshal(b, &doc))
			return doc.Components.Schemas[name].Properties
		}
	}
	t.Fatal("shared/reference/prefect-openapi.json not found")
	return nil
}

func TestOrchestrationResultJSONMatchesOpenAPI(t *testing.T) {
	sch := compileOpenAPISchema(t, "OrchestrationResult")
	for _, tc := range []struct {
		res  OrchestrationResult
		want string
	}{
		{OrchestrationResult{State: sampleState(), Status: SetStateStatusAccept, Details: AcceptDetails()}, `{"type":"accept_details"}`},
		{OrchestrationResult{State: sampleState(), Status: SetStateStatusReject, Details: RejectDetails("Retrying")}, `{"type":"reject_details","reason":"Retrying"}`},
		{OrchestrationResult{State: nil, Status: SetStateStatusAbort, Details: AbortDetails("stop")}, `{"type":"abort_details","reason":"stop"}`},
		{OrchestrationResult{State: sampleState(), Status: SetStateStatusWait, Details: WaitDetails(5, "later")}, `{"type":"wait_details","delay_seconds":5,"reason":"later"}`},
	} {
		b := validateAgainst(t, sch, tc.res)
		var got struct {
			Details json.RawMessage `json:"details"`
			State   json.RawMessage `json:"state"`
		}
		require.NoError(t, json.Unmarshal(b, &got))
		require.JSONEq(t, tc.want, string(got.Details))
		if tc.res.State == nil {
			require.Equal(t, "null", string(got.State))
		}
		var back OrchestrationResult
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, tc.res.Details, back.Details)
	}
}

func TestStateCreateToState(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var c StateCreate
	require.NoError(t, json.Unmarshal([]byte(`{"type":"SCHEDULED","state_details":{"cache_key":"k"}}`), &c))
	s, err := c.ToState(uuid.New(), now)
	require.NoError(t, err)
	require.Equal(t, "Scheduled", s.Name)
	require.Equal(t, now, *s.StateDetails.ScheduledTime, "scheduled defaults to now")
	require.Equal(t, "k", *s.StateDetails.CacheKey)
	require.Nil(t, s.Data)

	c = StateCreate{Type: StateTypeRunning, Name: ptrTo("Retrying")}
	s, err = c.ToState(uuid.New(), now)
	require.NoError(t, err)
	require.Equal(t, "Retrying", s.Name)
	require.Nil(t, s.StateDetails.ScheduledTime)

	_, err = StateCreate{Type: "BOGUS"}.ToState(uuid.New(), now)
	require.Error(t, err)

	validateAgainst(t, compileOpenAPISchema(t, "StateCreate"), StateCreate{Type: StateTypeCompleted, Data: json.RawMessage(`{"type":"unpersisted"}`)})
}

func TestStateTypeHelpers(t *testing.T) {
	names := map[StateType]string{}
	for _, st := range StateTypes {
		names[st] = st.DefaultName()
	}
	require.Equal(t, "Running", names[StateTypeRunning])
	require.Equal(t, "Cancelling", names[StateTypeCancelling])
	var terminal []StateType
	for _, st := range StateTypes {
		if st.IsTerminal() {
			terminal = append(terminal, st)
		}
	}
	require.Equal(t, []StateType{StateTypeCompleted, StateTypeFailed, StateTypeCancelled, StateTypeCrashed}, terminal)
}

func TestPersistedResultDetection(t *testing.T) {
	for data, want := range map[string]bool{
		`{"type":"reference","storage_key":"k"}`: true,
		`{"type":"unpersisted"}`:                 false,
		`{}`:                                     false, // empty data is falsy for the current state
		`"text"`:                                 false,
		`null`:                                   false,
		``:                                       false,
	} {
		require.Equal(t, want, (&State{Data: json.RawMessage(data)}).HasPersistedResult(), data)
	}
	require.True(t, DataIsPersistedResult(json.RawMessage(`{}`)), "a proposed empty object counts, as in Prefect")
}

func TestStateCloneIsDeep(t *testing.T) {
	s := sampleState()
	c := s.Clone()
	c.StateDetails.RunInputKeyset["a"] = "changed"
	*c.StateDetails.ScheduledTime = time.Time{}
	*c.Message = "changed"
	c.Data[2] = 'X'
	require.Equal(t, sampleState().StateDetails.RunInputKeyset, s.StateDetails.RunInputKeyset)
	require.False(t, s.StateDetails.ScheduledTime.IsZero())
	require.Equal(t, "retrying", *s.Message)
	require.JSONEq(t, `{"type":"reference","storage_key":"k"}`, string(s.Data))
}
