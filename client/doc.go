// Package client is Warden's Go SDK for the Prefect 3 server API, served by
// Warden or by Prefect itself.
//
// It mirrors the HTTP behaviour of Prefect's Python client
// (prefect/client/base.py) so a server sees the same protocol from both:
//
//   - Authorization: "Bearer <api key>" or "Basic base64(<auth string>)". When
//     both are configured the API key wins, as Prefect's security guide states;
//     current Python clients do the opposite, and New logs a warning saying so.
//     A custom Authorization header overrides both.
//   - client.custom_headers on every request, except the protected
//     User-Agent, Prefect-Csrf-Token and Prefect-Csrf-Client.
//   - CSRF tokens from GET /csrf-token?client=<id> before mutating requests,
//     with the switch-off on 404 or "CSRF protection is disabled.".
//   - Retries on 408, 429, 502, 503 and extra codes, honouring Retry-After
//     and Prefect-Maintenance.
//
// Deliberate differences from the Python client are documented where they
// occur (see Config and the CSRF retry in csrf.go).
//
// The package depends only on the standard library, uuid and apitype; it never
// imports Warden's internal packages.
package client
