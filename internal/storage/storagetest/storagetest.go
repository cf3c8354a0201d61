// Package storagetest is the conformance suite every storage engine passes.
// Engines run it from their own tests:
//
//	storagetest.Exercise(t, func(t *testing.T) storage.Store { ... })
//
// so each new query is specified once and checked on SQLite and PostgreSQL.
package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/storage"
)

// Exercise runs the whole suite. open must return a fresh, migrated, empty
// store each time it is called and register its Close with t.Cleanup.
func Exercise(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Basics", func(t *testing.T) { testBasics(t, open(t)) })
	t.Run("Flow", func(t *testing.T) { testFlow(t, open) })
	t.Run("FlowFilter", func(t *testing.T) { testFlowFilter(t, open(t)) })
	t.Run("FlowSort", func(t *testing.T) { testFlowSort(t, open(t)) })
	t.Run("Variable", func(t *testing.T) { testVariable(t, open) })
	t.Run("VariableFilter", func(t *testing.T) { testVariableFilter(t, open(t)) })
	t.Run("CSRFToken", func(t *testing.T) { testCSRFToken(t, open) })
	t.Run("Configuration", func(t *testing.T) { testConfiguration(t, open(t)) })
	t.Run("Event", func(t *testing.T) { testEvent(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("Runs", func(t *testing.T) { testRuns(t, open) })
	t.Run("TaskRunRecord", func(t *testing.T) { testTaskRunRecord(t, open) })
	t.Run("ConcurrencyLimits", func(t *testing.T) { testConcurrencyLimits(t, open) })
	t.Run("Log", func(t *testing.T) { testLog(t, open) })
	t.Run("Artifact", func(t *testing.T) { testArtifact(t, open) })
	t.Run("UI", func(t *testing.T) { testUI(t, open) })
	t.Run("FlowRunInput", func(t *testing.T) { testFlowRunInput(t, open) })
	t.Run("RunConcurrency", func(t *testing.T) { testRunConcurrency(t, open) })
	t.Run("CrossFilters", func(t *testing.T) { testCrossFilters(t, open) })
	t.Run("WorkPool", func(t *testing.T) { testWorkPool(t, open) })
	t.Run("Deployment", func(t *testing.T) { testDeployment(t, open) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, open) })
	t.Run("Scheduler", func(t *testing.T) { testScheduler(t, open) })
	t.Run("WorkPoll", func(t *testing.T) { testWorkPoll(t, open) })
	t.Run("TaskQueue", func(t *testing.T) { testTaskQueue(t, open) })
}

// baseTime has a nanosecond part so tests see the microsecond truncation.
var baseTime = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))

// at returns baseTime plus n seconds.
func at(n int) time.Time { return baseTime.Add(time.Duration(n) * time.Second) }

// stored is what a time must come back as: UTC, microseconds.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func testBasics(t *testing.T, s storage.Store) {
	ctx := context.Background()
	require.Contains(t, []string{"sqlite", "postgres"}, s.Engine())
	require.NoError(t, s.Ping(ctx))
}

func ids[T any](rows []T, id func(T) uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
