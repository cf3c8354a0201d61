package api

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/warden-orchestration/warden/internal/schedule"
	"github.com/warden-orchestration/warden/internal/storage"
)

func (a *app) deploymentScheduleRunsRoutes(route route) {
	route("POST", "/deployments/{id}/schedule", a.deploymentScheduleRuns)
}

// scheduleRunsBody is Prefect's Body_schedule_deployment: every field is
// optional and defaults to the scheduler's settings. min_time is seconds.
type scheduleRunsBody struct {
	StartTime *time.Time `json:"start_time"`
	EndTime   *time.Time `json:"end_time"`
	MinTime   *float64   `json:"min_time"`
	MinRuns   *int       `json:"min_runs"`
	MaxRuns   *int       `json:"max_runs"`
}

// deploymentScheduleRuns is Prefect's "schedule runs now" (also used for
// backfills with a start in the past): it plans the deployment's active
// schedules over the window and inserts the runs the scheduler would,
// idempotently. Like Prefect it answers 200 null, also for an unknown
// deployment, and ignores paused and max_scheduled_runs: the request is
// explicit.
func (a *app) deploymentScheduleRuns(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body scheduleRunsBody
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	if body.MinTime != nil && (math.IsNaN(*body.MinTime) || math.IsInf(*body.MinTime, 0) || math.Abs(*body.MinTime) > 1e12) {
		return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "min_time"}, Type: "finite_number",
			Msg: "Input should be a finite number", Input: *body.MinTime})
	}
	cfg := a.settings.Scheduler
	now := a.now().UTC()
	win := schedule.Window{
		Start:   now,
		MinTime: cmp.Or(cfg.MinScheduledTime, schedule.DefaultMinScheduledTime),
		MinRuns: cmp.Or(cfg.MinRuns, schedule.DefaultMinRuns),
		MaxRuns: cmp.Or(cfg.MaxRuns, schedule.DefaultMaxRuns),
	}
	if body.StartTime != nil {
		win.Start = body.StartTime.UTC()
	}
	win.End = win.Start.Add(cmp.Or(cfg.MaxScheduledTime, schedule.DefaultMaxScheduledTime))
	if body.EndTime != nil {
		win.End = body.EndTime.UTC()
	}
	if body.MinTime != nil {
		win.MinTime = time.Duration(*body.MinTime * float64(time.Second))
	}
	if body.MinRuns != nil {
		win.MinRuns = *body.MinRuns
	}
	if body.MaxRuns != nil {
		win.MaxRuns = *body.MaxRuns
	}
	d, err := a.store.DeploymentGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		writeJSON(w, http.StatusOK, nil)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read deployment: %w", err)
	}
	runs, err := schedule.RunsFor(d, win, now, generateSlug)
	if err != nil {
		// Stored schedules were validated on write; one that still fails
		// to evaluate is reported, not turned into a 500.
		return errDetail(http.StatusUnprocessableEntity, "Cannot schedule deployment: "+err.Error())
	}
	if _, err := a.store.SchedulerInsertRuns(r.Context(), runs, now); err != nil {
		return fmt.Errorf("insert scheduled runs: %w", err)
	}
	writeJSON(w, http.StatusOK, nil)
	return nil
}
