// The UI against the real server with auth and CSRF on: login, dashboard,
// flow run page, variables, logout, and no console errors on the way.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { api, launchBrowser, screenshot, seedRuns, startWarden, waitUntil, watchPage } from '../lib/harness.js'

const authString = 'admin:e2e-secret'
let warden
let browserHandle
let flowRuns = []
let page
let watch
// API families the server under test does not serve yet (deployments are
// being built alongside the UI): their 404s are reported, not failed on.
const missing = []

before(async () => {
  warden = await startWarden({
    PREFECT_SERVER_API_AUTH_STRING: authString,
    PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED: 'true',
  })
  flowRuns = await seedRuns(`${warden.url}/api`, authString)
  // Task runs arrive through events; wait until the recorder has them.
  await waitUntil(async () => (await api(warden.url, authString, 'POST', '/api/task_runs/count', {})) >= 4, 'task runs recorded')
  // POST-only route: 405 when deployments are served, 404 when not.
  const probe = await fetch(`${warden.url}/api/deployments/count`, { method: 'GET', headers: { Authorization: `Basic ${Buffer.from(authString).toString('base64')}` } })
  if (probe.status === 404) {
    missing.push('/api/deployments/')
    console.log('# note: this server has no /api/deployments yet; their 404s are tolerated')
  }
  browserHandle = await launchBrowser()
  page = await browserHandle.context.newPage()
  watch = watchPage(page)
})

after(async () => {
  await browserHandle?.close()
  await warden?.stop()
})

async function assertNoErrors(where, expected = []) {
  await page.waitForLoadState('networkidle')
  const errors = watch.take().filter(error => !missing.some(path => error.includes(path)) && !expected.some(text => error.includes(text)))
  assert.deepEqual(errors, [], `browser errors on ${where}`)
}

test('the UI asks for the auth string first', async () => {
  await page.goto(`${warden.url}/dashboard`)
  await page.getByPlaceholder('admin:pass').waitFor()
  const url = new URL(page.url())
  assert.equal(url.pathname, '/login')
  assert.equal(url.searchParams.get('redirect'), '/dashboard')
  await screenshot(page, 'login')
  await assertNoErrors('the login page')
})

test('a wrong auth string is rejected with a clear error', async () => {
  await page.getByPlaceholder('admin:pass').fill('admin:wrong')
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('alert').filter({ hasText: 'Authentication failed' }).waitFor()
  assert.match(page.url(), /\/login/)
  // The failed probe itself is the only expected error: a 401 from /admin/version.
  const errors = watch.take()
  assert.ok(errors.every(e => e.includes('401')), errors.join('\n'))
  assert.equal(await page.evaluate(() => sessionStorage.getItem('prefect-password') ?? localStorage.getItem('prefect-password')), null)
})

test('the right auth string opens the dashboard with the SDK-created runs', async () => {
  await page.getByPlaceholder('admin:pass').fill(authString)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.waitForURL(/\/dashboard/)
  await page.getByText('e2e-etl').first().waitFor()
  await page.getByText('e2e-report').first().waitFor()
  // Kept for the tab only unless "remember me" was ticked.
  const stored = await page.evaluate(() => [sessionStorage.getItem('prefect-password'), localStorage.getItem('prefect-password')])
  assert.equal(stored[0], Buffer.from(authString).toString('base64'))
  assert.equal(stored[1], null)
  await page.waitForLoadState('networkidle')
  await screenshot(page, 'dashboard')
  await assertNoErrors('the dashboard')
})

test('the runs page lists every run', async () => {
  await page.getByRole('link', { name: 'Runs' }).first().click()
  await page.waitForURL(/\/runs/)
  await page.getByText('3 Flow runs').waitFor()
  await page.waitForLoadState('networkidle')
  await screenshot(page, 'runs')
  await assertNoErrors('the runs page')
})

test('a flow run page shows its task runs and logs', async () => {
  await page.goto(`${warden.url}/runs/flow-run/${flowRuns[0]}`)
  await page.getByText('e2e flow starting with n=0').waitFor()
  await page.getByText('e2e task adding 0 and 3').waitFor()
  await page.waitForLoadState('networkidle')
  await screenshot(page, 'flow-run')
  await page.locator('.p-tab', { hasText: 'Task Runs' }).click()
  await page.getByText(/add-[0-9a-f]{3}/).first().waitFor()
  assert.equal(await page.getByText(/add-[0-9a-f]{3}/).count(), 2)
  await page.locator('.p-tab', { hasText: 'Parameters' }).click()
  await page.getByText('"n": 0').waitFor()
  await assertNoErrors('the flow run page')
})

test('a variable can be created from the UI with CSRF on', async () => {
  // A fresh load: leaving the flow run page in-app can race the run graph
  // library's own animations (a known bug of @prefecthq/graphs, which does
  // not stop its tweens on teardown) and log an unrelated page error.
  await page.goto(`${warden.url}/variables`)
  const csrfCalls = watch.requests.length
  await page.locator('.page-heading-variables button').click()
  const modal = page.locator('.p-modal')
  await modal.locator('input').first().fill('e2e_greeting')
  await modal.locator('textarea').first().fill('"hello from the browser"')
  await modal.getByRole('button', { name: 'Create' }).click()
  await page.getByText('e2e_greeting').first().waitFor()
  const variable = await api(warden.url, authString, 'GET', '/api/variables/name/e2e_greeting')
  assert.equal(variable.value, 'hello from the browser')
  const create = watch.requests.slice(csrfCalls).find(r => r.method === 'POST' && r.url.endsWith('/api/variables/'))
  assert.ok(create, 'no POST /api/variables/ seen')
  assert.match(create.headers['prefect-csrf-token'] ?? '', /^[0-9a-f]{64}$/)
  assert.ok(create.headers['prefect-csrf-client'])
  await screenshot(page, 'variables')
  // The create form checks that the name is free with GET
  // /variables/name/<name>, whose 404 Chrome logs; that one is expected.
  await assertNoErrors('the variables page', ['404 (Not Found)  (' + warden.url + '/api/variables/name/e2e_greeting)'])
})

test('logout returns to the login prompt and forgets the string', async () => {
  await page.getByText('Log out').first().click()
  await page.getByPlaceholder('admin:pass').waitFor()
  assert.equal(await page.evaluate(() => sessionStorage.getItem('prefect-password')), null)
  await page.goto(`${warden.url}/variables`)
  await page.getByPlaceholder('admin:pass').waitFor()
  await assertNoErrors('logout')
})
