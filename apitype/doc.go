// Package apitype holds the JSON wire types of Prefect 3's server API as Warden
// speaks it. It is a public leaf package (stdlib and uuid only) shared by the
// server (internal/api, internal/storage) and the Go SDK (client).
//
// Conventions (see ../shared/specs/api.md section 7): UUID ids, RFC 3339 UTC
// datetimes, snake_case JSON names, nullable fields as pointers.
package apitype
