// server.ts as it is deployed: configured only by its environment, JSON logs with request ids,
// and a graceful exit on SIGTERM.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { generateToken, hashToken } from '@kms-share/shared'
import { awsEnv, BUCKET, filePath, freePort, putObject, s3As, scratchDir, startTestLab, eventually } from './helpers.js'

t.test('starts from the environment, logs JSON with request ids, exits 0 on SIGTERM', async (t) => {
  const lab = await startTestLab(t)
  await putObject(s3As(lab, 'admin'), 'server-test.txt', 'served by server.ts')
  const port = await freePort()
  const token = generateToken()
  const cwd = fileURLToPath(new URL('..', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...awsEnv(lab, 'downloader'), BUCKET, PORT: String(port), CACHE_DIR: scratchDir(t), LOG_LEVEL: 'info', AUTH_TOKENS: `server-test:download:${hashToken(token)}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  const url = `http://127.0.0.1:${port}`
  await eventually(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok === true, 'the service ready', 60_000)

  t.equal((await fetch(url + filePath('server-test.txt'))).status, 401, 'no token, no file')
  const res = await fetch(url + filePath('server-test.txt'), { headers: { 'x-request-id': 'test-request-42', 'authorization': `Bearer ${token}` } })
  t.equal(await res.text(), 'served by server.ts')
  t.equal(res.headers.get('x-request-id'), 'test-request-42')

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'a graceful exit')
  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
  t.ok(lines.some((l) => l.requestId === 'test-request-42' && l.msg === 'request completed'), 'request logged with its id')
  t.ok(lines.some((l) => l.msg === 'closing' && l.signal === 'SIGTERM'), 'shutdown logged')
  t.ok(lines.every((l) => l.service === 'download'))
  t.notOk(stdout.includes(token), 'the token never reaches the log')
  t.ok(lines.some((l) => l.principal === 'server-test' && l.requestId === 'test-request-42'), 'the log names who asked')
})
