// The UI behind Debian's nginx under /prefect/, with ui.api_url set to the
// proxy's URL: the pages load and every request the browser makes goes
// through the proxy.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { freePort, launchBrowser, screenshot, seedRuns, startNginx, startWarden, watchPage } from '../lib/harness.js'

const authString = 'operator:proxy-secret'
let warden
let nginx
let browserHandle
let flowRuns = []

before(async () => {
  const proxyPort = await freePort()
  const proxyUrl = `http://127.0.0.1:${proxyPort}`
  warden = await startWarden({
    PREFECT_SERVER_API_AUTH_STRING: authString,
    PREFECT_UI_SERVE_BASE: '/prefect',
    PREFECT_UI_API_URL: `${proxyUrl}/prefect/api`,
  })
  nginx = await startNginx(`
  server {
    listen 127.0.0.1:{{PORT}};
    location /prefect/api/ {
      proxy_pass http://127.0.0.1:${warden.port}/api/;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
    location /prefect/ {
      proxy_pass http://127.0.0.1:${warden.port}/prefect/;
      proxy_set_header Host $host;
    }
  }`, proxyPort)
  // The SDK goes through the proxy too.
  flowRuns = await seedRuns(`${nginx.url}/prefect/api`, authString)
  browserHandle = await launchBrowser()
})

after(async () => {
  await browserHandle?.close()
  await nginx?.stop()
  await warden?.stop()
})

test('behind nginx under /prefect/ every browser request goes through the proxy', async () => {
  const page = await browserHandle.context.newPage()
  const watch = watchPage(page)
  await page.goto(`${nginx.url}/prefect/`)
  await page.getByPlaceholder('admin:pass').waitFor()
  assert.equal(new URL(page.url()).pathname, '/prefect/login')
  await page.getByPlaceholder('admin:pass').fill(authString)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.waitForURL(/\/prefect\/dashboard/)
  await page.getByText('e2e-etl').first().waitFor()
  await page.waitForLoadState('networkidle')
  await screenshot(page, 'proxy-dashboard')

  // A deep link, loaded fresh through the proxy (SPA fallback under the base).
  await page.goto(`${nginx.url}/prefect/runs/flow-run/${flowRuns[0]}`)
  await page.getByText('e2e flow starting with n=0').waitFor()
  await page.waitForLoadState('networkidle')
  await screenshot(page, 'proxy-flow-run')

  assert.deepEqual(watch.take(), [], 'browser errors behind the proxy')
  const origins = new Set(watch.requests.map(r => new URL(r.url).origin))
  assert.deepEqual([...origins], [nginx.url], 'requests that bypassed the proxy')
  const apiCalls = watch.requests.filter(r => r.url.includes('/api/'))
  assert.ok(apiCalls.length > 5, `only ${apiCalls.length} API calls seen`)
  for (const call of apiCalls) {
    assert.ok(call.url.startsWith(`${nginx.url}/prefect/api/`), `API call outside the proxied API: ${call.url}`)
  }
  // The proxy saw them: its access log has the API and asset requests.
  const log = nginx.accessLog()
  assert.match(log, /GET \/prefect\/api\/admin\/version/)
  assert.match(log, /GET \/prefect\/assets\/index-[\w-]+\.js/)
  await page.close()
})

test('missing assets under the proxy are 404s, not the app', async () => {
  const asset = await fetch(`${nginx.url}/prefect/assets/missing.js`)
  assert.equal(asset.status, 404)
  const navigation = await fetch(`${nginx.url}/prefect/work-pools`, { headers: { Accept: 'text/html' } })
  assert.equal(navigation.status, 200)
  assert.match(await navigation.text(), /src="\/prefect\/assets\/index-[\w-]+\.js"/)
  const settings = await (await fetch(`${nginx.url}/prefect/ui-settings`)).json()
  assert.equal(settings.api_url, `${nginx.url}/prefect/api`)
  assert.equal(settings.auth, 'BASIC')
})
