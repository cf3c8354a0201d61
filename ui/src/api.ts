// The library's API clients, with our credential and CSRF headers attached
// through its per-instance axios hook.
import { createApi } from '@prefecthq/prefect-ui-library'
import type { AxiosError, AxiosInstance, InternalAxiosRequestConfig } from 'axios'
import { storedCredential } from './auth'
import { CsrfTokens } from './csrf'

const mutating = new Set(['post', 'put', 'patch', 'delete'])
const retryHeader = 'Prefect-Csrf-Retry-Count'

export type ApiHandlers = {
  // unauthorized runs when any API call answers 401: the stored string no
  // longer opens the API (changed on the server, or logged out elsewhere).
  unauthorized: () => void,
}

export function createWardenApi(apiUrl: string, csrf: CsrfTokens, handlers: ApiHandlers): ReturnType<typeof createApi> {
  async function addHeaders(config: InternalAxiosRequestConfig): Promise<InternalAxiosRequestConfig> {
    const credential = storedCredential()
    if (credential) {
      config.headers.set('Authorization', `Basic ${credential}`)
    }
    if (csrf.active && mutating.has((config.method ?? 'get').toLowerCase())) {
      const token = await csrf.current()
      if (token) {
        config.headers.set('Prefect-Csrf-Token', token.token)
        config.headers.set('Prefect-Csrf-Client', csrf.clientId)
        if (!config.headers.has(retryHeader)) {
          config.headers.set(retryHeader, '0')
        }
      }
    }
    return config
  }

  function setup(instance: AxiosInstance): void {
    instance.interceptors.request.use(addHeaders)
    instance.interceptors.response.use(undefined, async (error: AxiosError) => {
      const response = error.response
      const config = error.config
      if (response?.status === 401) {
        handlers.unauthorized()
      } else if (response?.status === 403 && config && isInvalidCsrf(response.data) && config.headers.get(retryHeader) === '0') {
        // The token expired or was replaced: fetch a new one and try once more.
        csrf.reset()
        await csrf.refresh()
        config.headers.set(retryHeader, '1')
        return instance.request(config)
      }
      throw error
    })
  }

  return createApi({ baseUrl: apiUrl }, setup)
}

function isInvalidCsrf(data: unknown): boolean {
  const detail = (data as { detail?: unknown } | null)?.detail
  return typeof detail === 'string' && detail.includes('Invalid CSRF token')
}

// getJson reads an API path the library has no client for (admin/*).
export async function getJson<T>(apiUrl: string, path: string): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const credential = storedCredential()
  if (credential) {
    headers.Authorization = `Basic ${credential}`
  }
  const response = await fetch(`${apiUrl}${path}`, { headers })
  if (!response.ok) {
    throw new Error(`GET ${path} answered ${response.status}`)
  }
  return response.json()
}
