// CSRF tokens for mutating API calls, when /ui-settings says csrf_enabled.
// One random client id per page load; the token is fetched on first need,
// refreshed in the background at 75% of its lifetime, and replaced when the
// server calls it invalid.

type Token = { token: string, expiresAt: number }

const refreshAt = 0.75

export class CsrfTokens {
  public readonly clientId = randomId()
  private enabled: boolean
  private token: Token | null = null
  private pending: Promise<Token | null> | null = null
  private timer: ReturnType<typeof setTimeout> | null = null

  public constructor(
    private readonly apiUrl: string,
    enabled: boolean,
    private readonly credential: () => string | null,
  ) {
    this.enabled = enabled
  }

  public get active(): boolean {
    return this.enabled
  }

  // current returns a valid token, fetching one if needed; null when the
  // server has CSRF protection off.
  public async current(): Promise<Token | null> {
    if (!this.enabled) {
      return null
    }
    if (this.token && Date.now() < this.token.expiresAt) {
      return this.token
    }
    return this.refresh()
  }

  // refresh fetches a new token; concurrent callers share one request.
  public refresh(): Promise<Token | null> {
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = null
    })
    return this.pending
  }

  public reset(): void {
    this.token = null
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = null
    }
  }

  private async fetchToken(): Promise<Token | null> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    const credential = this.credential()
    if (credential) {
      headers.Authorization = `Basic ${credential}`
    }
    const response = await fetch(`${this.apiUrl}/csrf-token?client=${encodeURIComponent(this.clientId)}`, { headers })
    if (response.status === 422) {
      // "CSRF protection is disabled.": the setting changed since load.
      const body = await response.json().catch(() => ({}))
      if (String(body?.detail ?? '').includes('CSRF protection is disabled')) {
        this.enabled = false
        this.reset()
        return null
      }
    }
    if (!response.ok) {
      throw new CsrfError(response.status)
    }
    const body = await response.json()
    const now = Date.now()
    const expiresAt = Date.parse(body.expiration)
    this.token = { token: body.token, expiresAt }
    this.schedule(now, expiresAt)
    return this.token
  }

  private schedule(now: number, expiresAt: number): void {
    if (this.timer) {
      clearTimeout(this.timer)
    }
    const delay = Math.max(1000, (expiresAt - now) * refreshAt)
    this.timer = setTimeout(() => {
      this.timer = null
      this.refresh().catch(() => {
        // The next mutating call fetches again and reports the failure.
        this.token = null
      })
    }, delay)
  }
}

export class CsrfError extends Error {
  public constructor(public readonly status: number) {
    super(`fetching a CSRF token failed with HTTP ${status}`)
  }
}

// randomId works in insecure contexts too (crypto.randomUUID does not), so
// a UI reached over plain http on a LAN address still gets an id.
function randomId(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, byte => byte.toString(16).padStart(2, '0')).join('')
}
