// Test harness: builds and starts the real warden binary, seeds it with the
// real Prefect SDK, drives Debian's Chromium through playwright-core and, for
// the proxy test, runs Debian's nginx. Everything lives in a temp dir that
// is removed at the end; screenshots go to e2e/output/.
import { spawn, execFile } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { chromium } from 'playwright-core'

const execFileP = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
export const repoRoot = resolve(here, '..', '..')
export const outputDir = process.env.WARDEN_E2E_OUTPUT ?? join(repoRoot, 'e2e', 'output')
const python = process.env.WARDEN_E2E_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python')
const chromiumPath = process.env.WARDEN_E2E_CHROMIUM ?? '/usr/bin/chromium'
const nginxPath = process.env.WARDEN_E2E_NGINX ?? '/usr/sbin/nginx'

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), `warden-e2e-${prefix}-`))
}

export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolvePort(port))
    })
  })
}

let built = null

// wardenBinary builds ./cmd/warden once per run (WARDEN_BIN skips the build).
export async function wardenBinary() {
  if (process.env.WARDEN_BIN) {
    return process.env.WARDEN_BIN
  }
  built ??= (async () => {
    const out = join(tempDir('bin'), 'warden')
    await execFileP('go', ['build', '-o', out, './cmd/warden'], { cwd: repoRoot, maxBuffer: 16 << 20 })
    return out
  })()
  return built
}

async function waitFor(check, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs
  let lastError
  while (Date.now() < deadline) {
    try {
      if (await check()) {
        return
      }
    } catch (error) {
      lastError = error
    }
    await new Promise(r => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`)
}

// startWarden runs `warden server start` on a free loopback port with a
// fresh PREFECT_HOME and the given extra environment.
export async function startWarden(env = {}) {
  const bin = await wardenBinary()
  const home = tempDir('home')
  const port = await freePort()
  const logPath = join(home, 'server.log')
  const child = spawn(bin, ['server', 'start', '--host', '127.0.0.1', '--port', String(port)], {
    env: { PATH: process.env.PATH, HOME: home, PREFECT_HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const log = []
  child.stdout.on('data', chunk => log.push(chunk))
  child.stderr.on('data', chunk => log.push(chunk))
  const exited = new Promise(r => child.on('exit', r))
  const url = `http://127.0.0.1:${port}`
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) {
        throw new Error(`warden exited with ${child.exitCode}: ${Buffer.concat(log).toString()}`)
      }
      const response = await fetch(`${url}/api/health`)
      return response.ok
    }, 'warden to answer /api/health')
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
  return {
    url,
    port,
    home,
    log: () => Buffer.concat(log).toString(),
    async stop() {
      child.kill('SIGTERM')
      await exited
      writeFileSync(logPath, Buffer.concat(log))
      rmSync(home, { recursive: true, force: true })
    },
  }
}

const seedScript = `
import json
from prefect import flow, task, get_run_logger

@task
def add(x, y):
    get_run_logger().info("e2e task adding %s and %s", x, y)
    return x + y

@flow(name="e2e-etl")
def etl(n: int = 2):
    get_run_logger().info("e2e flow starting with n=%s", n)
    total = add(n, 3)
    return add(total, 1)

@flow(name="e2e-report")
def report(title: str = "weekly"):
    get_run_logger().info("e2e report %s", title)
    return title

runs = []
for i in range(2):
    runs.append(str(etl(n=i, return_state=True).state_details.flow_run_id))
runs.append(str(report(return_state=True).state_details.flow_run_id))
print(json.dumps({"flow_runs": runs}))
`

// seedRuns runs real flows with the Prefect SDK against apiUrl and returns
// their flow run ids (two "e2e-etl" runs with two task runs each, then one
// "e2e-report" run).
export async function seedRuns(apiUrl, authString) {
  const home = tempDir('sdk')
  try {
    const { stdout } = await execFileP(python, ['-c', seedScript], {
      env: {
        PATH: process.env.PATH,
        HOME: home,
        PREFECT_HOME: home,
        PREFECT_API_URL: apiUrl,
        PREFECT_API_AUTH_STRING: authString ?? '',
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: 'false',
      },
      timeout: 180000,
      maxBuffer: 16 << 20,
    })
    const line = stdout.trim().split('\n').pop()
    return JSON.parse(line).flow_runs
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}

// api calls Warden's REST API directly (for assertions and waiting), with
// a CSRF token on mutating calls when the server asks for one.
const csrfClient = `e2e-harness-${process.pid}`
export async function api(baseUrl, authString, method, path, body) {
  const headers = { 'Content-Type': 'application/json' }
  if (authString) {
    headers.Authorization = `Basic ${Buffer.from(authString).toString('base64')}`
  }
  if (method !== 'GET') {
    const token = await fetch(`${baseUrl}/api/csrf-token?client=${csrfClient}`, { headers })
    if (token.ok) {
      headers['Prefect-Csrf-Token'] = (await token.json()).token
      headers['Prefect-Csrf-Client'] = csrfClient
    }
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await response.text()
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${text}`)
  }
  return text ? JSON.parse(text) : null
}

export async function waitUntil(check, what, timeoutMs) {
  return waitFor(check, what, timeoutMs)
}

// launchBrowser starts Debian's Chromium headless with a fresh profile
// (playwright takes the --user-data-dir through launchPersistentContext).
export async function launchBrowser() {
  const profile = tempDir('profile')
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  })
  return {
    context,
    async close() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

// watchPage records console errors, page errors and every request the page
// makes, so tests can assert there were none of the first two and where the
// third went.
export function watchPage(page) {
  const errors = []
  const requests = []
  page.on('console', async message => {
    if (message.type() !== 'error') {
      return
    }
    // The library logs failed API calls as the axios error object, whose
    // text is only its class name: add the request it was about.
    let detail = ''
    try {
      detail = await message.args()[0]?.evaluate(e => (e && e.config ? `${e.config.method} ${e.config.baseURL ?? ''}${e.config.url} -> ${e.response?.status}` : ''))
    } catch {
      // The page navigated away; the text alone will do.
    }
    errors.push(`console: ${message.text()} ${detail ?? ''} (${message.location()?.url ?? ''})`)
  })
  page.on('pageerror', error => errors.push(`pageerror: ${error.message} ${(error.stack ?? '').split('\n').slice(1, 3).join(' ').trim()}`))
  page.on('requestfailed', request => {
    // Navigations away abort in-flight polls; those are not failures.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') {
      errors.push(`requestfailed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`)
    }
  })
  page.on('request', request => requests.push({ method: request.method(), url: request.url(), headers: request.headers() }))
  return {
    errors,
    requests,
    // take returns and clears the errors seen so far.
    take() {
      return errors.splice(0, errors.length)
    },
  }
}

export async function screenshot(page, name) {
  mkdirSync(outputDir, { recursive: true })
  const path = join(outputDir, `${name}.png`)
  await page.screenshot({ path, fullPage: false })
  return path
}

// startNginx runs Debian's nginx in the foreground on the given loopback
// port with the given server block (which receives the port as {{PORT}}).
export async function startNginx(serverBlock, port) {
  const dir = tempDir('nginx')
  for (const sub of ['logs', 'tmp']) {
    mkdirSync(join(dir, sub))
  }
  const conf = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
daemon off;
events { worker_connections 64; }
http {
  access_log ${dir}/logs/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  ${serverBlock.replaceAll('{{PORT}}', String(port))}
}
`
  writeFileSync(join(dir, 'nginx.conf'), conf)
  const child = spawn(nginxPath, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  const log = []
  child.stderr.on('data', chunk => log.push(chunk))
  const exited = new Promise(r => child.on('exit', r))
  const url = `http://127.0.0.1:${port}`
  await waitFor(async () => {
    if (child.exitCode !== null) {
      throw new Error(`nginx exited with ${child.exitCode}: ${Buffer.concat(log).toString()}`)
    }
    await fetch(url)
    return true
  }, 'nginx to listen')
  return {
    url,
    port,
    accessLog: () => (existsSync(join(dir, 'logs', 'access.log')) ? readFileSync(join(dir, 'logs', 'access.log'), 'utf8') : ''),
    async stop() {
      child.kill('SIGQUIT')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
