// No plaintext temp file outlives a transfer, however it ends: S3 going quiet (the AWS socket
// limit ends the fill), a graceful stop mid-fill, a forced kill (removed at the next start).
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { fileURLToPath } from 'node:url'
import { AUTH, AUTH_TOKENS, authorizedFetch, awsEnv, BUCKET, filePath, freePort, putObject, s3As, scratchDir, startDownload, startTestLab, eventually, type Lab } from './helpers.js'
import { cuttingProxy } from './proxy.js'

const MiB = 1024 * 1024
const temps = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.tmp-'))
const entries = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('localfile-'))

/** Start a download whose S3 answer stalls after 2 MiB; resolves once the client has bytes. */
function startStalledDownload(url: string, key: string): Promise<{ received: Promise<number> }> {
  return new Promise((resolve, reject) => {
    let bytes = 0
    const req = httpRequest(url + filePath(key), { headers: AUTH }, (res) => {
      const received = new Promise<number>((done) => {
        res.on('close', () => done(bytes))
        res.on('error', () => done(bytes))
      })
      res.on('data', (c: Buffer) => void (bytes += c.length))
      res.once('data', () => resolve({ received }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('S3 goes quiet mid-fill: the AWS socket limit ends it, the client is cut, no temp file', async (t) => {
  const lab = await startTestLab(t)
  await putObject(s3As(lab, 'admin'), 'quiet.bin', Buffer.alloc(16 * MiB, 1))
  const proxy = await cuttingProxy(t, lab.endpoint)
  const svc = await startDownload(t, lab, 'downloader', { AWS_ENDPOINT_URL: proxy.endpoint, AWS_CLIENT_SOCKET_TIMEOUT_MS: '1500', LOG_LEVEL: 'warn' })
  proxy.stallAfter = 2 * MiB
  const { received } = await startStalledDownload(svc.url, 'quiet.bin')
  t.ok(temps(svc.app.downloader.cache.dir).length >= 1, 'a temp file while S3 is quiet')
  t.ok((await received) < 16 * MiB, 'the client got a cut answer')
  await eventually(() => temps(svc.app.downloader.cache.dir).length === 0, 'the temp file removed')
  t.same(entries(svc.app.downloader.cache.dir), [], 'nothing cached')
  t.ok(proxy.stalls >= 1)
})

function spawnServer(t: Pick<Test, 'teardown'>, lab: Lab, endpoint: string, port: number, cacheDir: string): ChildProcess {
  const cwd = fileURLToPath(new URL('..', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '', ...awsEnv(lab, 'downloader'), AWS_ENDPOINT_URL: endpoint, BUCKET, PORT: String(port),
      CACHE_DIR: cacheDir, LOG_LEVEL: 'warn', AUTH_TOKENS, SHUTDOWN_GRACE_MS: '1500',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return child
}

t.test('a stop mid-fill removes the temp file; after kill -9 the next start does', async (t) => {
  const lab = await startTestLab(t)
  await putObject(s3As(lab, 'admin'), 'crash.bin', Buffer.alloc(16 * MiB, 2))
  const proxy = await cuttingProxy(t, lab.endpoint)
  const cacheDir = scratchDir(t)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const ready = () => eventually(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok === true, 'the service ready', 60_000)

  // SIGTERM while S3 is quiet and a client waits: the graceful stop removes the temp file.
  let child = spawnServer(t, lab, proxy.endpoint, port, cacheDir)
  await ready()
  proxy.stallAfter = 2 * MiB
  let stalled = await startStalledDownload(url, 'crash.bin')
  t.equal(temps(cacheDir).length, 1, 'a temp file mid-fill')
  child.kill('SIGTERM')
  await once(child, 'exit')
  await stalled.received
  t.same(temps(cacheDir), [], 'no temp file after a graceful stop')
  t.same(entries(cacheDir), [], 'and no entry')

  // kill -9 leaves it (nothing runs), and the next start removes it before serving.
  proxy.stallAfter = Infinity
  child = spawnServer(t, lab, proxy.endpoint, port, cacheDir)
  await ready()
  proxy.stallAfter = 2 * MiB
  stalled = await startStalledDownload(url, 'crash.bin')
  t.equal(temps(cacheDir).length, 1, 'a temp file mid-fill')
  child.kill('SIGKILL')
  await once(child, 'exit')
  await stalled.received
  t.equal(temps(cacheDir).length, 1, 'kill -9 leaves the temp file behind')
  proxy.stallAfter = Infinity
  child = spawnServer(t, lab, proxy.endpoint, port, cacheDir)
  await ready()
  t.same(temps(cacheDir), [], 'removed at start')
  const res = await authorizedFetch(url)(filePath('crash.bin'))
  t.equal(Buffer.from(await res.arrayBuffer()).length, 16 * MiB, 'the object is served whole afterwards')
  t.same(entries(cacheDir), ['localfile-crash.bin'])
  child.kill('SIGTERM')
  await once(child, 'exit')
})
