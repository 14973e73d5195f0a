// server.ts as it is deployed: configured only by its environment, JSON logs with request ids,
// and a graceful exit on SIGTERM.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { generateToken, hashToken } from '@kms-share/shared'
import { eventually, freePort } from '@kms-share/aws-lab/testing'
import { awsEnv, BUCKET, startTestLab } from './helpers.js'

t.test('starts from the environment, logs JSON with request ids, exits 0 on SIGTERM', async (t) => {
  const lab = await startTestLab(t)
  const port = await freePort()
  const token = generateToken()
  const cwd = fileURLToPath(new URL('..', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...awsEnv(lab, 'keyadmin'), BUCKET, PORT: String(port), LOG_LEVEL: 'info', AUTH_TOKENS: `server-test:keys:read:${hashToken(token)}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  const url = `http://127.0.0.1:${port}`
  await eventually(() => fetch(`${url}/readyz`).then((r) => r.ok, () => false), 'keyadmin ready', 60_000)

  t.equal((await fetch(`${url}/keys`)).status, 401, 'no token, no keys')
  const res = await fetch(`${url}/keys`, { headers: { 'x-request-id': 'test-request-42', 'authorization': `Bearer ${token}` } })
  t.equal(res.status, 200)
  t.ok(((await res.json()) as { keys: unknown[] }).keys.length >= 1)
  t.equal(res.headers.get('x-request-id'), 'test-request-42')

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'a graceful exit')
  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
  t.ok(lines.some((l) => l.requestId === 'test-request-42' && l.msg === 'request completed'), 'request logged with its id')
  t.ok(lines.some((l) => l.msg === 'closing' && l.signal === 'SIGTERM'), 'shutdown logged')
  t.ok(lines.every((l) => l.service === 'keyadmin'))
  t.notOk(stdout.includes(token), 'the token never reaches the log')
})
