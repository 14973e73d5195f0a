// serve(): the process around every service's app. A port it cannot take ends the process with code 1
// (close-with-grace alone let it end 0 on beforeExit, as if asked to stop); SIGTERM closes it with 0.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const serveModule = fileURLToPath(new URL('../src/serve.ts', import.meta.url))

async function runServe(port: number) {
  const script = `import Fastify from 'fastify'; import { serve } from ${JSON.stringify(serveModule)};
const app = Fastify({ logger: { level: 'info' } }); app.get('/healthz', async () => 'ok');
await serve(app, { HOST: '127.0.0.1', PORT: ${port}, SHUTDOWN_GRACE_MS: 1000 }); console.log('listening')`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (c: Buffer) => { output += c.toString() })
  child.stderr.on('data', (c: Buffer) => { output += c.toString() })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  return { child, output: () => output }
}

t.test('a port already taken: the process logs why and exits 1', async (t) => {
  const taken = createServer().listen(0, '127.0.0.1')
  await once(taken, 'listening')
  t.teardown(() => taken.close())
  const { child, output } = await runServe((taken.address() as AddressInfo).port)
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 1, output())
  t.match(output(), /"level":60.*EADDRINUSE.*cannot listen on 127\.0\.0\.1:\d+/)
})

t.test('SIGTERM: it closes with grace and exits 0', async (t) => {
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  await new Promise((r) => probe.close(r))
  const { child, output } = await runServe(port)
  await new Promise<void>((resolve) => child.stdout.on('data', () => { if (output().includes('listening')) resolve() }))
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200)
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, output())
  t.match(output(), /"signal":"SIGTERM".*"msg":"closing"/)
})
