// Clients that stall — never read the answer, never finish their headers, declare a body and send
// none — pace nobody: with an S3 pool of 4 sockets, 60 stalled downloads plus 60 stalled requests
// leave a normal download finishing in seconds, the stalled object's cache fill completes, and the
// server's time limits close every stalled connection.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { AUTH, filePath, putObject, s3As, startDownload, startTestLab, eventually } from './helpers.js'

const MiB = 1024 * 1024

function rawRequest(url: string, lines: string[]): Socket {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.on('error', () => undefined)
  socket.write(lines.join('\r\n'))
  return socket
}

function closed(socket: Socket): Promise<void> {
  return socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()))
}

t.test('60 stalled downloads and 60 stalled requests: a normal download completes in seconds', async (t) => {
  const lab = await startTestLab(t)
  const writer = s3As(lab, 'admin')
  const big = randomBytes(16 * MiB)
  const normal = randomBytes(4 * MiB)
  await putObject(writer, 'stalled/big.bin', big)
  await putObject(writer, 'stalled/ranged.bin', big)
  await putObject(writer, 'normal.bin', normal)
  const service = await startDownload(t, lab, 'downloader', {
    LOG_LEVEL: 'warn',
    AWS_CLIENT_MAX_SOCKETS: '4',
    HTTP_IDLE_TIMEOUT_MS: '12000',
    HTTP_HEADERS_TIMEOUT_MS: '3000',
    HTTP_REQUEST_TIMEOUT_MS: '3000',
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
  })
  const { cache } = service.app.downloader
  const path = (key: string) => filePath(key)
  const get = (key: string, extra: string[] = []) => [`GET ${path(key)} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: ${AUTH.authorization}`, ...extra, '', '']

  // Stalled readers: they send a whole request, then never read a byte of the answer.
  const stalledReaders: Socket[] = []
  for (let i = 0; i < 40; i++) stalledReaders.push(rawRequest(service.url, get('stalled/big.bin')))
  for (let i = 0; i < 10; i++) stalledReaders.push(rawRequest(service.url, get('stalled/big.bin', [`Range: bytes=${i * MiB}-`])))
  // Ranges of an object with no fill running: each its own ranged GetObject, spooled.
  for (let i = 0; i < 10; i++) stalledReaders.push(rawRequest(service.url, get('stalled/ranged.bin', [`Range: bytes=${i * MiB}-${i * MiB + 4 * MiB - 1}`])))
  for (const socket of stalledReaders) socket.pause()
  // Stalled senders: half a request line, or a request that declares a body it never sends.
  const stalledSenders: Socket[] = []
  for (let i = 0; i < 40; i++) stalledSenders.push(rawRequest(service.url, [`GET ${path('normal.bin')} HT`]))
  for (let i = 0; i < 20; i++) stalledSenders.push(rawRequest(service.url, get('normal.bin', ['Content-Length: 100000'])))
  let senderBytes = 0
  for (const socket of stalledSenders) socket.on('data', (c: Buffer) => void (senderBytes += c.length))

  await eventually(() => service.app.downloader.stats.s3Fetches >= 1, 'the stalled object being fetched')
  const started = Date.now()
  const res = await service.api(filePath('normal.bin'))
  const body = Buffer.from(await res.arrayBuffer())
  const elapsed = Date.now() - started
  t.equal(res.status, 200)
  t.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(normal).digest('hex'), 'the whole object')
  // Stalled readers holding S3 sockets would block it until the 12 s idle limit cut them (Node checks idleness coarsely: up to about twice that).
  t.ok(elapsed < 10_000, `a normal download beside 120 stalled connections, while the fills run, took ${elapsed} ms`)

  // The fill of the object nobody reads runs at S3's speed into the cache.
  await eventually(() => cache.lookup('stalled/big.bin') !== undefined, 'the stalled object cached', 15_000)
  t.ok(stalledReaders.filter((s) => !s.destroyed).length >= 50, 'while its readers are still connected and stalled')
  await service.cacheAdmin('/cache/' + encodeURIComponent(cache.lookup('normal.bin')!.name), { method: 'DELETE' })
  const again = Date.now()
  const second = await service.api(filePath('normal.bin'))
  t.ok(Buffer.from(await second.arrayBuffer()).equals(normal))
  t.equal(second.headers.get('x-cache'), 'miss')
  t.ok(Date.now() - again < 5000, `once the fills are done, a normal cold download beside them took ${Date.now() - again} ms`)
  const hit = await service.api(filePath('stalled/big.bin'))
  t.equal(hit.headers.get('x-cache'), 'hit')
  t.ok(Buffer.from(await hit.arrayBuffer()).equals(big), 'a later client reads the whole object')
  const ranged = await service.api(filePath('stalled/ranged.bin'), { headers: { range: 'bytes=100-199' } })
  t.equal(ranged.status, 206)
  t.ok(Buffer.from(await ranged.arrayBuffer()).equals(big.subarray(100, 200)), 'ranges still answered')

  // The server's limits end every stalled connection: headers and request deadline, then idle.
  const deadline = Date.now()
  await Promise.all(stalledSenders.map(closed))
  t.ok(Date.now() - deadline < 8000, `stalled senders cut by the header/request deadline (${Date.now() - deadline} ms)`)
  t.ok(senderBytes > 0, 'stalled senders were told why (408)')
  // A paused client cannot see the server close its socket: count the server's connections instead.
  const connections = () => new Promise<number>((resolve, reject) => service.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
  await eventually(async () => (await connections()) === 0, 'every stalled reader cut by the idle limit', 60_000)
  t.ok(Date.now() - deadline < 60_000, `stalled readers cut by the idle limit (${Date.now() - deadline} ms after the hit)`)
  // Reading now, each stalled client finds its answer cut short.
  const received = await Promise.all(stalledReaders.map(async (socket) => {
    let bytes = 0
    socket.on('data', (c: Buffer) => void (bytes += c.length))
    const done = closed(socket)
    socket.resume()
    await done
    return bytes
  }))
  t.ok(received.every((bytes) => bytes < 16 * MiB), `every stalled reader got a cut answer (at most ${Math.max(...received)} bytes)`)
  t.same(cache.list().map((e) => e.key).sort(), ['normal.bin', 'stalled/big.bin'], 'whole objects cached, never a range')
  await eventually(() => readdirSync(cache.dir).every((n) => !n.startsWith('.tmp-')), 'no temporary file left')
})
