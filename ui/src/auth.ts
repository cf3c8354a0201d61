// The auth-string login. The server has no sessions: the browser keeps the
// Basic credential and sends it on every API call. It lives in
// sessionStorage (gone when the tab closes) unless the user ticks
// "remember me", which puts it in localStorage.
import { reactive } from 'vue'

// Prefect's UIs use this key, so a credential stored by them is picked up.
const storageKey = 'prefect-password'

export const auth = reactive({
  required: false,
  authenticated: false,
})

export function storedCredential(): string | null {
  return sessionStorage.getItem(storageKey) ?? localStorage.getItem(storageKey)
}

export function forgetCredential(): void {
  sessionStorage.removeItem(storageKey)
  localStorage.removeItem(storageKey)
  auth.authenticated = false
}

function remember(credential: string, persist: boolean): void {
  forgetCredential()
  const storage = persist ? localStorage : sessionStorage
  storage.setItem(storageKey, credential)
  auth.authenticated = true
}

// encodeCredential base64-encodes the UTF-8 bytes of the auth string (btoa
// alone throws on anything outside Latin-1).
export function encodeCredential(authString: string): string {
  const bytes = new TextEncoder().encode(authString)
  let binary = ''
  bytes.forEach(byte => {
    binary += String.fromCharCode(byte)
  })
  return btoa(binary)
}

export type CheckResult = 'ok' | 'unauthorized' | 'unreachable'

// checkCredential asks the API whether credential opens it: GET
// /admin/version is cheap and behind auth.
export async function checkCredential(apiUrl: string, credential: string | null): Promise<CheckResult> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (credential) {
    headers.Authorization = `Basic ${credential}`
  }
  try {
    const response = await fetch(`${apiUrl}/admin/version`, { headers })
    if (response.status === 401) {
      return 'unauthorized'
    }
    return response.ok ? 'ok' : 'unreachable'
  } catch {
    return 'unreachable'
  }
}

// login checks the typed string and stores it only if the server accepts it.
export async function login(apiUrl: string, authString: string, persist: boolean): Promise<CheckResult> {
  const credential = encodeCredential(authString)
  const result = await checkCredential(apiUrl, credential)
  if (result === 'ok') {
    remember(credential, persist)
  }
  return result
}
