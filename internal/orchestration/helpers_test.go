package orchestration

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

// t0 is the pinned clock of every test.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeLookup is an in-memory Lookup.
type fakeLookup struct {
	flowRuns    map[uuid.UUID]*FlowRunSnapshot
	cache       map[string]*apitype.State
	takenTimes  map[time.Time]bool
	deployments map[uuid.UUID]*DeploymentConcurrency
	limits      map[string]ConcurrencyLimit
	tagLimits   map[string]TagConcurrencyLimit
	leases      map[uuid.UUID]bool
}

func newFakeLookup() *fakeLookup {
	return &fakeLookup{
		flowRuns: map[uuid.UUID]*FlowRunSnapshot{}, cache: map[string]*apitype.State{},
		takenTimes: map[time.Time]bool{}, deployments: map[uuid.UUID]*DeploymentConcurrency{},
		limits: map[string]ConcurrencyLimit{}, tagLimits: map[string]TagConcurrencyLimit{},
		leases: map[uuid.UUID]bool{},
	}
}

func (f *fakeLookup) FlowRun(_ context.Context, id uuid.UUID) (*FlowRunSnapshot, error) {
	return f.flowRuns[id], nil
}

func (f *fakeLookup) CachedTaskRunState(_ context.Context, key string, now time.Time) (*apitype.State, error) {
	s := f.cache[key]
	if s == nil || (s.StateDetails.CacheExpiration != nil && !s.StateDetails.CacheExpiration.After(now)) {
		return nil, nil
	}
	return s, nil
}

func (f *fakeLookup) FlowRunStateTimestampTaken(_ context.Context, _ uuid.UUID, ts time.Time) (bool, error) {
	return f.takenTimes[ts], nil
}

func (f *fakeLookup) DeploymentConcurrency(_ context.Context, id uuid.UUID) (*DeploymentConcurrency, error) {
	return f.deployments[id], nil
}

func (f *fakeLookup) ConcurrencyLimitsByName(_ context.Context, names []string) ([]ConcurrencyLimit, error) {
	var out []ConcurrencyLimit
	for _, n := range names {
		if l, ok := f.limits[n]; ok {
			out = append(out, l)
		}
	}
	return out, nil
}

func (f *fakeLookup) TagConcurrencyLimits(_ context.Context, tags []string) ([]TagConcurrencyLimit, error) {
	var out []TagConcurrencyLimit
	for _, t := range tags {
		if l, ok := f.tagLimits[t]; ok {
			out = append(out, l)
		}
	}
	return out, nil
}

func (f *fakeLookup) LeaseActive(_ context.Context, id uuid.UUID, _ time.Time) (bool, error) {
	return f.leases[id], nil
}

// testEngine returns an engine on the pinned clock with deterministic ids
// and jitter.
func testEngine(l *fakeLookup) *Engine {
	n := 0
	return &Engine{
		Lookup: l,
		Config: Config{Rand: func() float64 { return 0.5 }},
		Now:    func() time.Time { return t0 },
		NewID: func() uuid.UUID {
			n++
			return uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte(n >> 8), byte(n)})
		},
	}
}

func st(t apitype.StateType, name string, at time.Time) *apitype.State {
	if name == "" {
		name = t.DefaultName()
	}
	return &apitype.State{ID: uuid.New(), Type: t, Name: name, Timestamp: at}
}

func scheduled(name string, at, when time.Time) *apitype.State {
	s := st(apitype.StateTypeScheduled, name, at)
	s.StateDetails.ScheduledTime = &when
	return s
}

func flowRun() *Run   { return &Run{Kind: FlowRunKind, ID: uuid.New()} }
func taskRun() *Run   { return &Run{Kind: TaskRunKind, ID: uuid.New(), TaskKey: "k"} }
func idp() *uuid.UUID { id := uuid.New(); return &id }

var persisted = json.RawMessage(`{"type":"reference","storage_key":"/r/1"}`)

// orchestrate runs one transition and fails the test on error.
func orchestrate(t *testing.T, l *fakeLookup, req Request) *Result {
	t.Helper()
	if l == nil {
		l = newFakeLookup()
	}
	res, err := testEngine(l).Orchestrate(context.Background(), req)
	require.NoError(t, err)
	return res
}

// outcome summarises a result for table assertions: status, returned state
// type and name ("" when none).
type outcome struct {
	status apitype.SetStateStatus
	typ    apitype.StateType
	name   string
}

func outcomeOf(r *Result) outcome {
	o := outcome{status: r.Status}
	if r.State != nil {
		o.typ, o.name = r.State.Type, r.State.Name
	}
	return o
}

func accepted(t apitype.StateType, name string) outcome {
	if name == "" {
		name = t.DefaultName()
	}
	return outcome{apitype.SetStateStatusAccept, t, name}
}

func rejected(t apitype.StateType, name string) outcome {
	if name == "" && t != "" {
		name = t.DefaultName()
	}
	return outcome{apitype.SetStateStatusReject, t, name}
}

func effectsOf[T Effect](r *Result) []T {
	var out []T
	for _, e := range r.Effects {
		if v, ok := e.(T); ok {
			out = append(out, v)
		}
	}
	return out
}
