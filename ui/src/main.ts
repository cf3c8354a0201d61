import '@prefecthq/prefect-design/prefect-design.css'
import '@prefecthq/prefect-ui-library/prefect-ui-library.css'
import '@prefecthq/vue-charts/vue-charts.css'
import './style.css'

import { plugin as designPlugin } from '@prefecthq/prefect-design'
import {
  canKey,
  createCan,
  createWorkspaceRoutes,
  plugin as libraryPlugin,
  workspaceApiKey,
  workspacePermissions,
  workspaceRoutesKey,
} from '@prefecthq/prefect-ui-library'
import { createApp } from 'vue'
import { createWardenApi } from './api'
import App from './App.vue'
import { auth, checkCredential, forgetCredential, storedCredential } from './auth'
import { CsrfTokens } from './csrf'
import { unsupportedResources } from './resources'
import { createWardenRouter } from './router'
import { loadUiSettings } from './settings'
import { uiSettingsKey } from './injection'
import StartupError from './pages/StartupError.vue'

async function start(): Promise<void> {
  const settings = await loadUiSettings()
  auth.required = settings.auth !== null
  if (!auth.required) {
    auth.authenticated = true
  } else if (storedCredential()) {
    // Validate a remembered credential once; a stale one sends the user to
    // the login page instead of failing every call.
    const result = await checkCredential(settings.apiUrl, storedCredential())
    if (result === 'unauthorized') {
      forgetCredential()
    } else {
      auth.authenticated = true
    }
  }

  const csrf = new CsrfTokens(settings.apiUrl, settings.csrfEnabled, storedCredential)
  const router = createWardenRouter()
  const api = createWardenApi(settings.apiUrl, csrf, {
    unauthorized: () => {
      if (!auth.required || !auth.authenticated) {
        return
      }
      forgetCredential()
      csrf.reset()
      const current = router.currentRoute.value
      if (current.name !== 'login') {
        router.push({ name: 'login', query: { redirect: current.fullPath, reason: 'expired' } })
      }
    },
  })

  // Permissions double as feature switches: the library hides actions for
  // resources Warden does not serve (blocks, automations, ...).
  const permissions = workspacePermissions.filter(permission => !unsupportedResources.some(resource => permission.endsWith(`:${resource}`)))

  const app = createApp(App)
  app.provide(workspaceApiKey, api)
  app.provide(workspaceRoutesKey, createWorkspaceRoutes())
  app.provide(canKey, createCan(permissions))
  app.provide(uiSettingsKey, { ...settings, csrf })
  app.use(router)
  app.use(designPlugin)
  app.use(libraryPlugin)
  app.mount('#app')
}

start().catch((error: unknown) => {
  createApp(StartupError, { message: error instanceof Error ? error.message : String(error) }).mount('#app')
})
