package storage

import (
	"context"

	"github.com/google/uuid"
)

// TaskQueueStore reads the deferred task runs task workers are served
// (task.delay()). The queue itself lives in memory (internal/taskqueue);
// storage is its source of truth after a restart or an overflow.
type TaskQueueStore interface {
	// ScheduledDeferredTaskRuns returns the ids of task runs of taskKey whose
	// current state is SCHEDULED with state_details.deferred set, oldest
	// state first (ties by id), at most limit of them (limit <= 0: none).
	ScheduledDeferredTaskRuns(ctx context.Context, taskKey string, limit int) ([]uuid.UUID, error)
}
