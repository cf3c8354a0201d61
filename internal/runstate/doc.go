// Package runstate applies the orchestration engine's decisions to storage:
// it runs internal/orchestration inside one run's locked transaction
// (storage.RunTx), writes the accepted state and the engine's effects there,
// and publishes the state-change events after the commit. The API handlers
// and the background services (late runs, pause expirations, cancellation
// cleanup) share it, so every transition goes through the same rules.
package runstate
