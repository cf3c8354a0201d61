package runstate

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// truncateStateMessagesAt is Prefect's TRUNCATE_STATE_MESSAGES_AT.
const truncateStateMessagesAt = 100_000

// tightTiming links a state-change event to the previous one (follows) only
// when they are close, so consumers can order near-simultaneous deliveries.
const tightTiming = 5 * time.Minute

// emitFlowRunStateChange publishes a prefect.flow-run.<State> event on the
// event bus, shaped as Prefect's flow_run_state_change_event: workers and
// runners watch them (cancellation) and the UI shows them.
func (m *Machine) emitFlowRunStateChange(ctx context.Context, run *apitype.FlowRun, initial, validated *apitype.State) {
	if validated == nil || m.Events == nil {
		return
	}
	now := m.Now().UTC()
	ev := apitype.ReceivedEvent{Received: now}
	ev.Occurred = validated.Timestamp
	if ev.Occurred.IsZero() {
		ev.Occurred = now
	}
	ev.Event.Event = "prefect.flow-run." + validated.Name
	ev.ID = validated.ID
	if ev.ID == uuid.Nil {
		ev.ID = uuid.Must(uuid.NewV7())
	}
	if initial != nil && initial.ID != uuid.Nil {
		if d := ev.Occurred.Sub(initial.Timestamp); d > -tightTiming && d < tightTiming {
			id := initial.ID
			ev.Follows = &id
		}
	}
	ev.Resource = apitype.Resource{
		apitype.LabelResourceID:   "prefect.flow-run." + run.ID.String(),
		apitype.LabelResourceName: run.Name,
		"prefect.run-count":       strconv.Itoa(run.RunCount),
		"prefect.state-message":   truncated(deref(validated.Message)),
		"prefect.state-name":      validated.Name,
		"prefect.state-timestamp": pythonISO(validated.Timestamp),
		"prefect.state-type":      string(validated.Type),
	}
	ev.Related = m.related(ctx, run)
	payload := map[string]any{
		"intended":        map[string]any{"from": stateType(initial), "to": stateType(validated)},
		"initial_state":   statePayload(initial),
		"validated_state": statePayload(validated),
	}
	ev.Payload, _ = json.Marshal(payload) // maps of strings always marshal
	if err := m.Events.Publish(ctx, []apitype.ReceivedEvent{ev}); err != nil {
		m.Logger.Warn("publish flow run event", slog.String("flow_run_id", run.ID.String()), slog.Any("err", err))
	}
}

// related lists the flow, deployment, work queue, work pool and parent
// task run, then every tag of the run and of those, then the run's creator
// when a deployment or automation, as Prefect's
// _flow_run_related_resources_from_orm.
func (m *Machine) related(ctx context.Context, run *apitype.FlowRun) []apitype.Resource {
	var related []apitype.Resource
	add := func(kind, id, name string) {
		related = append(related, apitype.Resource{apitype.LabelResourceID: "prefect." + kind + "." + id,
			apitype.LabelResourceRole: kind, apitype.LabelResourceName: name})
	}
	tags := slices.Clone(run.Tags)
	if flow, err := m.Store.FlowGet(ctx, run.FlowID); err == nil {
		add("flow", flow.ID.String(), flow.Name)
		tags = append(tags, flow.Tags...)
	}
	if run.DeploymentID != nil {
		if d, err := m.Store.DeploymentGet(ctx, *run.DeploymentID); err == nil {
			add("deployment", d.ID.String(), d.Name)
			tags = append(tags, d.Tags...)
		}
	}
	if run.WorkQueueID != nil {
		now := m.Now().UTC()
		if q, err := m.Store.WorkQueueGet(ctx, *run.WorkQueueID, now); err == nil {
			add("work-queue", q.ID.String(), q.Name)
			if p, err := m.Store.WorkPoolGetByName(ctx, q.WorkPoolName, now); err == nil {
				add("work-pool", p.ID.String(), p.Name)
				related[len(related)-1]["prefect.work-pool.type"] = p.Type
			}
		}
	}
	if run.ParentTaskRunID != nil {
		if tr, err := m.Store.TaskRunGet(ctx, *run.ParentTaskRunID); err == nil {
			add("task-run", tr.ID.String(), tr.Name)
			tags = append(tags, tr.Tags...)
		}
	}
	slices.Sort(tags)
	for _, t := range slices.Compact(tags) {
		related = append(related, apitype.Resource{apitype.LabelResourceID: "prefect.tag." + t, apitype.LabelResourceRole: "tag"})
	}
	if cb := run.CreatedBy; cb != nil && cb.ID != nil && cb.Type != nil {
		kind := map[string]string{"DEPLOYMENT": "deployment", "AUTOMATION": "automation"}[*cb.Type]
		if kind != "" {
			r := apitype.Resource{apitype.LabelResourceID: "prefect." + kind + "." + cb.ID.String(), apitype.LabelResourceRole: "creator"}
			if cb.DisplayValue != nil && *cb.DisplayValue != "" {
				r[apitype.LabelResourceName] = *cb.DisplayValue
			}
			related = append(related, r)
		}
	}
	return related
}

func stateType(s *apitype.State) any {
	if s == nil {
		return nil
	}
	return string(s.Type)
}

// statePayload is Prefect's state_payload: the essential string parts.
func statePayload(s *apitype.State) any {
	if s == nil {
		return nil
	}
	p := map[string]string{"type": string(s.Type)}
	if s.Name != "" {
		p["name"] = s.Name
	}
	if m := deref(s.Message); m != "" {
		p["message"] = truncated(m)
	}
	if s.Type == apitype.StateTypePaused {
		p["pause_reschedule"] = strconv.FormatBool(s.StateDetails.PauseReschedule)
	}
	return p
}

func truncated(s string) string {
	if len(s) <= truncateStateMessagesAt {
		return s
	}
	s = s[:truncateStateMessagesAt]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// pythonISO formats t as Python's datetime.isoformat() of an aware UTC
// datetime: microseconds only when non-zero, "+00:00" offset.
func pythonISO(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}
