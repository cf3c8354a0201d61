// Package settings reads Prefect's settings the way Prefect does: every
// setting of prefect-settings.schema.json, from (highest first) explicit
// overrides, environment variables (canonical PREFECT_* names and their legacy
// aliases), .env in the working directory, prefect.toml, pyproject.toml
// [tool.prefect], the active profile of profiles.toml, then defaults.
// Warden's own settings live under the `warden.` namespace (env WARDEN_*)
// and load from the same sources.
package settings
