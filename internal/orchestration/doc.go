// Package orchestration is Warden's state-transition rule engine: a pure-Go
// re-implementation of Prefect 3's server orchestration (policies of ordered
// rules plus global bookkeeping transforms) that decides what happens when a
// flow run or task run proposes a new state.
//
// # Model
//
// A transition is described by a [Request]: the [Run] being transitioned (the
// handful of run columns rules read and write), its current state (nil for a
// brand-new run), the proposed state and the force flag. [Engine.Orchestrate]
// picks a [Policy] (CoreFlowPolicy, CoreTaskPolicy, BackgroundTaskPolicy, or
// MinimalFlowPolicy/MinimalTaskPolicy when forced), compiles the rules whose
// FromStates/ToStates contain the intended (initial type, proposed type) pair,
// then appends the global transforms (GlobalFlowPolicy/GlobalTaskPolicy).
//
// The lifecycle mirrors Prefect's nested context managers:
//
//  1. Enter every compiled step in order. A rule fires its BeforeTransition
//     hook only if the transition it was compiled for is still the one on the
//     table; once an earlier rule rejected to another state type, waited or
//     aborted, later rules are "invalid" and stay silent. Universal transforms
//     always fire and check for a nullified (nil) proposed state themselves.
//  2. Validate: a non-nil proposed state becomes the validated state (the row
//     the caller must insert); a nil one leaves the current state in place.
//  3. Exit in reverse order. A rule whose transition is unchanged fires
//     AfterTransition; a rule that fired on entry but whose transition a later
//     rule changed has "fizzled": its Cleanup hook runs and the effects it
//     emitted on entry are discarded.
//
// A rule decides with [Context.Reject] (optionally substituting another state;
// nil keeps the current one), [Context.Wait] (client retries after a delay),
// [Context.Abort] (client gives up), or by editing the proposed state and the
// run in place (names, state details, run_count, empirical policy).
//
// # Seams
//
// The package performs no I/O: no SQL, no HTTP, no clock reads outside
// Engine.Now. Reads go through the narrow [Lookup] interface (cached task
// states, the parent flow run, deployment and tag concurrency limits, lease
// liveness), which the storage layer implements inside the same transaction
// that holds the run row lock. Writes other than the run and the new state row
// are returned as typed [Effect] values (insert a cache entry, take or release
// concurrency slots and leases, orchestrate the parent task run of a subflow,
// emit a flow-run event, enqueue a background task) for the caller to apply
// in that same transaction, in order. Concurrency decisions are taken on the
// limit snapshots Lookup returns, so the caller must read them under lock
// (SELECT ... FOR UPDATE on PostgreSQL; SQLite's single writer suffices).
//
// Differences from Prefect are deliberate and commented where they occur; the
// main ones: a rule that blocks a transition never leaves slots or leases
// behind, errors from hooks are returned instead of being converted into an
// ABORT (the caller rolls back, as Prefect's re-raise does), and the pre-0.8.3
// API flow-retry branch that rewrote task run states is not implemented.
package orchestration
