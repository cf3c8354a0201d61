package orchestration

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// Deployment concurrency (v2 limits with leases) and task tag concurrency
// (v2 "tag:<tag>" limits, then v1 concurrency_limit rows). Decisions are
// taken on locked snapshots from Lookup; every write is an Effect, emitted
// only once the rule has decided to let the transition through, so a
// blocked or fizzled transition never holds a slot.

const (
	leaseHolderFlowRun = "flow_run"
	leaseHolderTaskRun = "task_run"
	tagLimitPrefix     = "tag:"
)

// hasRoom reports whether one more slot fits on an active limit.
func hasRoom(l *ConcurrencyLimit) bool {
	return l != nil && l.Active && l.ActiveSlots+1 <= l.Limit
}

func (c *Context) deploymentLeaseDuration(d *DeploymentConcurrency) time.Duration {
	if d.GracePeriodSeconds != nil {
		return time.Duration(*d.GracePeriodSeconds) * time.Second
	}
	return c.Config.InitialDeploymentLeaseDuration
}

// takeDeploymentSlot emits the effects taking one deployment slot under a
// new lease and returns the lease id.
func (c *Context) takeDeploymentSlot(d *DeploymentConcurrency, holder *LeaseHolder) uuid.UUID {
	lease := c.newID()
	ids := []uuid.UUID{*d.ConcurrencyLimitID}
	c.Emit(IncrementSlots{LimitIDs: ids, Slots: 1})
	c.Emit(CreateLease{LeaseID: lease, LimitIDs: ids, Slots: 1, Expiration: c.Now.Add(c.deploymentLeaseDuration(d)), Holder: holder})
	return lease
}

// newPreserveDeploymentConcurrencyLeaseID copies the lease id forward when a
// proposal sends null for it (workers do on PENDING → Submitting).
func newPreserveDeploymentConcurrencyLeaseID() Rule {
	return transform("PreserveDeploymentConcurrencyLeaseId", func(_ context.Context, c *Context) error {
		if c.Initial == nil || c.Proposed == nil {
			return nil
		}
		if l := c.Initial.StateDetails.DeploymentConcurrencyLeaseID; l != nil && c.Proposed.StateDetails.DeploymentConcurrencyLeaseID == nil {
			c.Proposed.StateDetails.DeploymentConcurrencyLeaseID = clonePtr(l)
		}
		return nil
	}, nil)
}

// newSecureFlowConcurrencySlots takes a deployment concurrency slot when a
// run becomes PENDING, before the worker provisions infrastructure. When the
// limit is full the run waits as AwaitingConcurrencySlot (ENQUEUE) or is
// cancelled (CANCEL_NEW).
func newSecureFlowConcurrencySlots() Rule {
	return &rule{
		name: "SecureFlowConcurrencySlots",
		from: allStatesExcept(apitype.StateTypePending, apitype.StateTypeRunning, apitype.StateTypeCancelling),
		to:   setOf(apitype.StateTypePending),
		before: func(ctx context.Context, c *Context) error {
			if c.Run.DeploymentID == nil || c.Proposed == nil || workerVersionsManagingDeploymentConcurrency[c.ClientVersion] {
				return nil
			}
			d, err := c.Lookup.DeploymentConcurrency(ctx, *c.Run.DeploymentID)
			if err != nil {
				return err
			}
			if d == nil {
				c.Abort("Deployment not found.")
				return nil
			}
			if d.Limit == nil || d.ConcurrencyLimitID == nil {
				return nil
			}
			if d.Limit.Limit == 0 {
				c.Abort("The deployment concurrency limit is 0. The flow will deadlock if submitted again.")
				return nil
			}
			if hasRoom(d.Limit) {
				lease := c.takeDeploymentSlot(d, nil)
				c.Proposed.StateDetails.DeploymentConcurrencyLeaseID = &lease
				return nil
			}
			const reason = "Deployment concurrency limit reached."
			if d.CollisionStrategy == CollisionCancelNew {
				st := c.NewState(apitype.StateTypeCancelled, "")
				st.Message = ptr(reason)
				return c.Reject(st, reason)
			}
			st := c.NewState(apitype.StateTypeScheduled, apitype.StateNameAwaitingConcurrencySlot)
			st.StateDetails.ScheduledTime = ptr(c.Now.Add(c.Config.DeploymentConcurrencySlotWait))
			return c.Reject(st, reason)
		},
	}
}

// newValidateDeploymentConcurrencyAtRunning renews the deployment lease at
// PENDING → RUNNING. If the lease was reaped while infrastructure started,
// a free slot is retaken; otherwise the run is cancelled, since it can no
// longer be rescheduled.
func newValidateDeploymentConcurrencyAtRunning() Rule {
	return &rule{
		name: "ValidateDeploymentConcurrencyAtRunning",
		from: setOf(apitype.StateTypePending),
		to:   setOf(apitype.StateTypeRunning),
		before: func(ctx context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			lease := clonePtr(c.Initial.StateDetails.DeploymentConcurrencyLeaseID)
			c.Proposed.StateDetails.DeploymentConcurrencyLeaseID = lease
			if lease == nil {
				return nil
			}
			// Older clients never renew leases; validating would fail them.
			cv := c.ClientVersion
			if cv == "" {
				cv = "2.0.0"
			}
			if compareVersions(cv, minClientVersionForLeasing) < 0 || c.Run.DeploymentID == nil {
				return nil
			}
			d, err := c.Lookup.DeploymentConcurrency(ctx, *c.Run.DeploymentID)
			if err != nil || d == nil || d.Limit == nil {
				return err
			}
			active, err := c.Lookup.LeaseActive(ctx, *lease, c.Now)
			if err != nil {
				return err
			}
			if active {
				c.Emit(RenewLease{LeaseID: *lease, Expiration: c.Now.Add(c.deploymentLeaseDuration(d))})
				return nil
			}
			if d.ConcurrencyLimitID != nil && hasRoom(d.Limit) {
				id := c.takeDeploymentSlot(d, &LeaseHolder{Type: leaseHolderFlowRun, ID: c.Run.ID})
				c.Proposed.StateDetails.DeploymentConcurrencyLeaseID = &id
				return nil
			}
			st := c.NewState(apitype.StateTypeCancelled, "")
			st.Message = ptr("Deployment concurrency slot lost during provisioning - no slots available to continue execution")
			return c.Reject(st, "Deployment concurrency limit reached after lease expiry.")
		},
	}
}

// newRemoveDeploymentConcurrencyLeaseForOldClientVersions revokes the lease
// once an old client (which cannot renew it) starts running; the slot is
// freed when the run leaves RUNNING.
func newRemoveDeploymentConcurrencyLeaseForOldClientVersions() Rule {
	return &rule{
		name: "RemoveDeploymentConcurrencyLeaseForOldClientVersions",
		from: setOf(apitype.StateTypePending),
		to:   setOf(apitype.StateTypeRunning, apitype.StateTypeCancelling),
		after: func(_ context.Context, c *Context) error {
			if c.Initial == nil || (c.ClientVersion != "" && compareVersions(c.ClientVersion, minClientVersionForLeasing) >= 0) {
				return nil
			}
			if l := c.Initial.StateDetails.DeploymentConcurrencyLeaseID; l != nil {
				c.Emit(RevokeLease{LeaseID: *l})
			}
			return nil
		},
	}
}

// newReleaseFlowConcurrencySlots frees the deployment slot when a run leaves
// PENDING/RUNNING/CANCELLING for anything else. An in-process retry keeps
// it: the engine renews the lease across the retry delay.
func newReleaseFlowConcurrencySlots() Rule {
	holding := setOf(apitype.StateTypeRunning, apitype.StateTypeCancelling, apitype.StateTypePending)
	keeping := setOf(apitype.StateTypePending, apitype.StateTypeRunning, apitype.StateTypeCancelling)
	return transform("ReleaseFlowConcurrencySlots", nil, func(ctx context.Context, c *Context) error {
		if c.Proposed == nil || !holding[c.InitialType()] || keeping[c.ProposedType()] || c.Run.DeploymentID == nil {
			return nil
		}
		if isScheduled(c.Proposed) && c.Proposed.Name == apitype.StateNameAwaitingRetry && c.Status == apitype.SetStateStatusReject {
			return nil
		}
		d, err := c.Lookup.DeploymentConcurrency(ctx, *c.Run.DeploymentID)
		if err != nil {
			return err
		}
		if l := c.Initial.StateDetails.DeploymentConcurrencyLeaseID; l != nil {
			var fallback []uuid.UUID
			if d != nil && d.ConcurrencyLimitID != nil {
				fallback = []uuid.UUID{*d.ConcurrencyLimitID}
			}
			c.Emit(ReleaseLease{LeaseID: *l, FallbackLimitIDs: fallback})
			return nil
		}
		if d != nil && d.ConcurrencyLimitID != nil {
			c.Emit(DecrementSlots{LimitIDs: []uuid.UUID{*d.ConcurrencyLimitID}, Slots: 1})
		}
		return nil
	})
}

// newEnforceDeploymentConcurrencyOnLate cancels, instead of marking Late, a
// run whose CANCEL_NEW deployment is at its limit: such runs never reach
// PENDING, where the strategy is normally applied.
func newEnforceDeploymentConcurrencyOnLate() Rule {
	return &rule{
		name: "EnforceDeploymentConcurrencyOnLate",
		from: setOf(apitype.StateTypeScheduled),
		to:   setOf(apitype.StateTypeScheduled),
		before: func(ctx context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil || c.Proposed.Name != apitype.StateNameLate || c.Run.DeploymentID == nil {
				return nil
			}
			d, err := c.Lookup.DeploymentConcurrency(ctx, *c.Run.DeploymentID)
			if err != nil || d == nil || d.ConcurrencyLimitID == nil || d.CollisionStrategy != CollisionCancelNew || d.Limit == nil {
				return err
			}
			if d.Limit.ActiveSlots >= d.Limit.Limit {
				st := c.NewState(apitype.StateTypeCancelled, "")
				st.Message = ptr("Deployment concurrency limit reached.")
				return c.Reject(st, "Deployment concurrency limit is full and uses the CANCEL_NEW strategy.")
			}
			return nil
		},
	}
}

func tagLimitNames(tags []string) []string {
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = tagLimitPrefix + t
	}
	return names
}

// newSecureTaskConcurrencySlots takes a slot on every tag limit of a task
// run entering RUNNING. A full limit makes the client wait; a limit of 0
// would deadlock and aborts. v2 "tag:<tag>" limits take precedence over v1
// rows for the same tag.
func newSecureTaskConcurrencySlots() Rule {
	return &rule{
		name: "SecureTaskConcurrencySlots",
		from: allStates(),
		to:   setOf(apitype.StateTypeRunning),
		before: func(ctx context.Context, c *Context) error {
			if len(c.Run.Tags) == 0 {
				return nil
			}
			v2, err := c.Lookup.ConcurrencyLimitsByName(ctx, tagLimitNames(c.Run.Tags))
			if err != nil {
				return err
			}
			v1, err := c.Lookup.TagConcurrencyLimits(ctx, c.Run.Tags)
			if err != nil {
				return err
			}
			v2Tags := map[string]bool{}
			var take []ConcurrencyLimit
			for _, l := range v2 {
				if !l.Active {
					continue
				}
				tag := strings.TrimPrefix(l.Name, tagLimitPrefix)
				v2Tags[tag] = true
				if l.Limit == 0 {
					c.Abort(fmt.Sprintf("The concurrency limit on tag %q is 0 and will deadlock if the task tries to run again.", tag))
					return nil
				}
				take = append(take, l)
			}
			if blocked := blockedLimits(take); len(blocked) > 0 {
				c.Wait(tagSlotDelay(c, take), "Concurrency limit reached for tags: "+strings.Join(blocked, ", "))
				return nil
			}
			var v1Take []string
			for _, l := range v1 {
				if v2Tags[l.Tag] {
					continue
				}
				switch {
				case l.Limit == 0:
					c.Abort(fmt.Sprintf("The concurrency limit on tag %q is 0 and will deadlock if the task tries to run again.", l.Tag))
					return nil
				case len(l.ActiveSlots) >= l.Limit:
					c.Wait(int(c.Config.TagConcurrencySlotWait/time.Second), fmt.Sprintf("Concurrency limit for the %s tag has been reached", l.Tag))
					return nil
				}
				v1Take = append(v1Take, l.Tag)
			}
			if len(take) > 0 {
				ids := make([]uuid.UUID, len(take))
				for i, l := range take {
					ids[i] = l.ID
				}
				c.Emit(IncrementSlots{LimitIDs: ids, Slots: 1})
				c.Emit(CreateLease{
					LeaseID: c.newID(), LimitIDs: ids, Slots: 1, Expiration: c.Now.Add(v1LeaseTTL),
					Holder: &LeaseHolder{Type: leaseHolderTaskRun, ID: c.Run.ID},
				})
			}
			for _, tag := range v1Take {
				c.Emit(AddTagSlot{Tag: tag, TaskRunID: c.Run.ID})
			}
			return nil
		},
	}
}

// blockedLimits returns the tags of all limits when any one is full: the
// slots are taken all-or-nothing, and Prefect names every limit it tried.
func blockedLimits(limits []ConcurrencyLimit) []string {
	full := false
	names := make([]string, len(limits))
	for i, l := range limits {
		full = full || !hasRoom(&l)
		names[i] = strings.TrimPrefix(l.Name, tagLimitPrefix)
	}
	if !full {
		return nil
	}
	return names
}

// tagSlotDelay spreads retries of blocked task runs: a jittered wait around
// the most contended limit's average slot occupancy, capped by the setting,
// so waiting tasks do not all wake at once.
func tagSlotDelay(c *Context, limits []ConcurrencyLimit) int {
	maxWait := c.Config.TagConcurrencySlotWait.Seconds()
	blocking := limits[0]
	for _, l := range limits[1:] {
		if float64(l.ActiveSlots)/float64(l.Limit) > float64(blocking.ActiveSlots)/float64(blocking.Limit) {
			blocking = l
		}
	}
	avg := maxWait
	if blocking.AvgSlotOccupancySeconds > 0 {
		avg = math.Min(blocking.AvgSlotOccupancySeconds, maxWait)
	}
	return int(math.RoundToEven(clampedPoissonInterval(avg, 0.3, c.Config.Rand)))
}

// newReleaseTaskConcurrencySlots frees a task run's tag slots when it
// leaves RUNNING/CANCELLING (any written state other than those two).
func newReleaseTaskConcurrencySlots() Rule {
	return transform("ReleaseTaskConcurrencySlots", nil, func(ctx context.Context, c *Context) error {
		if c.Proposed == nil || c.Validated == nil || len(c.Run.Tags) == 0 {
			return nil
		}
		if t := c.Validated.Type; t == apitype.StateTypeRunning || t == apitype.StateTypeCancelling {
			return nil
		}
		v2, err := c.Lookup.ConcurrencyLimitsByName(ctx, tagLimitNames(c.Run.Tags))
		if err != nil {
			return err
		}
		if len(v2) > 0 {
			ids := make([]uuid.UUID, len(v2))
			for i, l := range v2 {
				ids[i] = l.ID
			}
			c.Emit(ReleaseHolderLeases{Holder: LeaseHolder{Type: leaseHolderTaskRun, ID: c.Run.ID}, LimitIDs: ids})
		}
		v1, err := c.Lookup.TagConcurrencyLimits(ctx, c.Run.Tags)
		if err != nil {
			return err
		}
		for _, l := range v1 {
			c.Emit(RemoveTagSlot{Tag: l.Tag, TaskRunID: c.Run.ID})
		}
		return nil
	})
}
