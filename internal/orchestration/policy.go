package orchestration

// The policies, in Prefect 3.9.1's priority order. Order matters: an earlier
// rule that rejects, waits or aborts silences the later ones.

func rules(ctors ...func() Rule) []func() Rule { return ctors }

// CoreFlowPolicy governs flow run transitions.
func CoreFlowPolicy() Policy {
	return Policy{Name: "CoreFlowPolicy", Rules: rules(
		newPreserveDeploymentConcurrencyLeaseID,
		newPreventDuplicateTransitions,
		newHandleFlowTerminalStateTransitions,
		newEnforceCancellingToCancelledTransition,
		newBypassCancellingFlowRunsWithNoInfra,
		newPreventPendingTransitions,
		newValidateDeploymentConcurrencyAtRunning,
		newSecureFlowConcurrencySlots,
		newRemoveDeploymentConcurrencyLeaseForOldClientVersions,
		newEnsureOnlyScheduledFlowsMarkedLate,
		newHandlePausingFlows,
		newHandleResumingPausedFlows,
		newCopyScheduledTime,
		newWaitForScheduledTime,
		newRetryFailedFlows,
		newInstrumentFlowRunStateTransitions,
		newReleaseFlowConcurrencySlots,
	)}
}

// CoreTaskPolicy governs server-orchestrated task run transitions.
func CoreTaskPolicy() Policy {
	return Policy{Name: "CoreTaskPolicy", Rules: rules(
		newCacheRetrieval,
		newHandleTaskTerminalStateTransitions,
		newPreventRunningTasksFromStoppedFlows,
		newSecureTaskConcurrencySlots, // after the cache: cached states need no slot
		newCopyScheduledTime,
		newWaitForScheduledTime,
		newRetryFailedTasks,
		newRenameReruns,
		newUpdateFlowRunTrackerOnTasks,
		newCacheInsertion,
		newReleaseTaskConcurrencySlots,
	)}
}

// ClientSideTaskOrchestrationPolicy is CoreTaskPolicy without tag
// concurrency, for clients that orchestrate tasks themselves.
func ClientSideTaskOrchestrationPolicy() Policy {
	return Policy{Name: "ClientSideTaskOrchestrationPolicy", Rules: rules(
		newCacheRetrieval,
		newHandleTaskTerminalStateTransitions,
		newPreventRunningTasksFromStoppedFlows,
		newCopyScheduledTime,
		newWaitForScheduledTime,
		newRetryFailedTasks,
		newRenameReruns,
		newUpdateFlowRunTrackerOnTasks,
		newCacheInsertion,
		newReleaseTaskConcurrencySlots,
	)}
}

// BackgroundTaskPolicy governs deferred (task worker) task runs.
func BackgroundTaskPolicy() Policy {
	return Policy{Name: "BackgroundTaskPolicy", Rules: rules(
		newPreventPendingTransitions,
		newCacheRetrieval,
		newHandleTaskTerminalStateTransitions,
		newCopyScheduledTime,
		newCopyTaskParametersID,
		newWaitForScheduledTime,
		newRetryFailedTasks,
		newRenameReruns,
		newUpdateFlowRunTrackerOnTasks,
		newCacheInsertion,
		newReleaseTaskConcurrencySlots,
		newEnqueueScheduledTasks,
	)}
}

// MinimalFlowPolicy is used for forced flow run transitions: only result
// protection, UI cancellation of runs without infrastructure, the event and
// slot release remain.
func MinimalFlowPolicy() Policy {
	return Policy{Name: "MinimalFlowPolicy", Rules: rules(
		newPreserveDeploymentConcurrencyLeaseID,
		newPreventResultDataLoss,
		newBypassCancellingFlowRunsWithNoInfra,
		newInstrumentFlowRunStateTransitions,
		newReleaseFlowConcurrencySlots,
	)}
}

// MinimalTaskPolicy is used for forced task run transitions.
func MinimalTaskPolicy() Policy {
	return Policy{Name: "MinimalTaskPolicy", Rules: rules(newReleaseTaskConcurrencySlots)}
}

// MarkLateRunsPolicy is what the late-runs service proposes "Late" with.
func MarkLateRunsPolicy() Policy {
	return Policy{Name: "MarkLateRunsPolicy", Rules: rules(
		newEnsureOnlyScheduledFlowsMarkedLate,
		newEnforceDeploymentConcurrencyOnLate,
		newInstrumentFlowRunStateTransitions,
	)}
}

// commonGlobalTransforms is the bookkeeping both run kinds share.
func commonGlobalTransforms() []func() Rule {
	return rules(
		newSetRunStateType,
		newSetRunStateName,
		newSetRunStateTimestamp,
		newSetStartTime,
		newSetEndTime,
		newIncrementRunTime,
		newSetExpectedStartTime,
		newSetNextScheduledStartTime,
		newUpdateStateDetails,
	)
}

// GlobalFlowPolicy is the bookkeeping run on every flow run transition,
// after the policy's rules.
func GlobalFlowPolicy() Policy {
	r := rules(newEnsureFlowRunStateTimestampIsUnique)
	r = append(r, commonGlobalTransforms()...)
	r = append(r, newUpdateSubflowParentTask, newUpdateSubflowStateDetails, newIncrementFlowRunCount, newRemoveResumingIndicator)
	return Policy{Name: "GlobalFlowPolicy", Rules: r}
}

// GlobalTaskPolicy is the bookkeeping run on every task run transition.
func GlobalTaskPolicy() Policy {
	return Policy{Name: "GlobalTaskPolicy", Rules: append(commonGlobalTransforms(), newIncrementTaskRunCount)}
}
