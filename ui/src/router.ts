import { createWorkspaceRouteRecords } from '@prefecthq/prefect-ui-library'
import { createRouter, createWebHistory, RouteRecordRaw, Router } from 'vue-router'
import { auth } from './auth'
import Layout from './Layout.vue'
import Artifact from './pages/Artifact.vue'
import ArtifactKey from './pages/ArtifactKey.vue'
import Artifacts from './pages/Artifacts.vue'
import ConcurrencyLimit from './pages/ConcurrencyLimit.vue'
import ConcurrencyLimits from './pages/ConcurrencyLimits.vue'
import Dashboard from './pages/Dashboard.vue'
import Deployment from './pages/Deployment.vue'
import DeploymentRun from './pages/DeploymentRun.vue'
import Deployments from './pages/Deployments.vue'
import Event from './pages/Event.vue'
import Events from './pages/Events.vue'
import Flow from './pages/Flow.vue'
import FlowRun from './pages/FlowRun.vue'
import Flows from './pages/Flows.vue'
import Login from './pages/Login.vue'
import NotAvailable from './pages/NotAvailable.vue'
import NotFound from './pages/NotFound.vue'
import Runs from './pages/Runs.vue'
import Settings from './pages/Settings.vue'
import TaskRun from './pages/TaskRun.vue'
import Variables from './pages/Variables.vue'
import WorkPool from './pages/WorkPool.vue'
import WorkPoolCreate from './pages/WorkPoolCreate.vue'
import WorkPoolEdit from './pages/WorkPoolEdit.vue'
import WorkPoolQueue from './pages/WorkPoolQueue.vue'
import WorkPoolQueueCreate from './pages/WorkPoolQueueCreate.vue'
import WorkPoolQueueEdit from './pages/WorkPoolQueueEdit.vue'
import WorkPools from './pages/WorkPools.vue'

// Lazy-route shape ({ default }) because the library's runs wrapper unwraps .default.
const page = <T>(component: T) => () => Promise.resolve({ default: component })
const notAvailable = page(NotAvailable)

// Every library route name is registered, because library components build
// links by name; the ones Warden cannot serve land on NotAvailable.
const workspaceRoutes = createWorkspaceRouteRecords({
  dashboard: page(Dashboard),
  runs: page(Runs),
  flowRun: page(FlowRun),
  taskRun: page(TaskRun),
  flows: page(Flows),
  flow: page(Flow),
  flowCollections: notAvailable,
  flowCollection: notAvailable,
  deployments: page(Deployments),
  deployment: page(Deployment),
  deploymentEdit: notAvailable,
  deploymentDuplicate: notAvailable,
  deploymentFlowRunCreate: page(DeploymentRun),
  workPools: page(WorkPools),
  workPool: page(WorkPool),
  workPoolCreate: page(WorkPoolCreate),
  workPoolEdit: page(WorkPoolEdit),
  workPoolQueue: page(WorkPoolQueue),
  workPoolQueueCreate: page(WorkPoolQueueCreate),
  workPoolQueueEdit: page(WorkPoolQueueEdit),
  variables: page(Variables),
  concurrencyLimits: page(ConcurrencyLimits),
  concurrencyLimit: page(ConcurrencyLimit),
  concurrencyLimitsV2: page(ConcurrencyLimits),
  concurrencyLimitV2: page(ConcurrencyLimits),
  events: page(Events),
  event: page(Event),
  artifacts: page(Artifacts),
  artifactKey: page(ArtifactKey),
  artifact: page(Artifact),
  blocks: notAvailable,
  blocksCatalog: notAvailable,
  blocksCatalogView: notAvailable,
  blockCreate: notAvailable,
  block: notAvailable,
  blockEdit: notAvailable,
  notifications: notAvailable,
  notificationCreate: notAvailable,
  notificationEdit: notAvailable,
  automations: notAvailable,
  automationCreate: notAvailable,
  automation: notAvailable,
  automationEdit: notAvailable,
}) as RouteRecordRaw[]

const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: Login, meta: { public: true } },
  {
    path: '/',
    component: Layout,
    children: [
      { path: '', redirect: { name: 'workspace.dashboard' } },
      ...workspaceRoutes,
      { path: 'settings', name: 'settings', component: Settings },
      { path: ':pathMatch(.*)*', name: 'not-found', component: NotFound },
    ],
  },
]

export function createWardenRouter(): Router {
  const router = createRouter({
    history: createWebHistory(import.meta.env.BASE_URL),
    routes,
  })

  router.beforeEach(to => {
    if (to.meta.public) {
      // Nothing to log in to: leave the login page.
      if (to.name === 'login' && !auth.required) {
        return { name: 'workspace.dashboard' }
      }
      return true
    }
    if (auth.required && !auth.authenticated) {
      return { name: 'login', query: { redirect: to.fullPath } }
    }
    return true
  })

  return router
}
