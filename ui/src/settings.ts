// Server-provided UI settings (GET <serve base>/ui-settings, outside auth).

export type UiSettings = {
  apiUrl: string,
  csrfEnabled: boolean,
  auth: string | null,
}

// BASE_URL is the build's placeholder base, rewritten by the server to the
// real serve base ("/" or e.g. "/prefect/").
export const serveBase = import.meta.env.BASE_URL

export async function loadUiSettings(): Promise<UiSettings> {
  const response = await fetch(`${serveBase}ui-settings`, { headers: { Accept: 'application/json' } })
  if (!response.ok) {
    throw new Error(`GET ${serveBase}ui-settings answered ${response.status}`)
  }
  const body = await response.json()
  return {
    apiUrl: resolveApiUrl(body.api_url),
    csrfEnabled: body.csrf_enabled === true,
    auth: typeof body.auth === 'string' && body.auth !== '' ? body.auth : null,
  }
}

// ui.api_url may be absolute (a reverse proxy's URL) or relative ("/api");
// a missing value falls back to the API beside the UI.
function resolveApiUrl(value: unknown): string {
  const raw = typeof value === 'string' && value !== '' ? value : '/api'
  return raw.replace(/\/+$/, '')
}
