// Time limits and problem+json for what Fastify and Node refuse before a route runs, over real
// sockets: raw HTTP/1.1 bytes for what fetch would never send, small servers that stall for the AWS clients.
import t, { type Test } from 'tap'
import { createServer as createTcpServer, connect, type Socket } from 'node:net'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3'
import { Type } from 'typebox'
import { basePlugin, createS3Client, loadConfig, portProperty, s3Plugin, serverOptions, serviceConfigProperties } from '../src/index.js'

const Schema = Type.Object({ ...serviceConfigProperties, PORT: portProperty(0) })

function credentials(dir: string): Record<string, string> {
  writeFileSync(join(dir, 'credentials'), '[p]\naws_access_key_id = AKIAP\naws_secret_access_key = s\n')
  return { AWS_PROFILE: 'p', AWS_REGION: 'eu-west-1', AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), AWS_CONFIG_FILE: join(dir, 'none') }
}

/** A TCP server that accepts and never answers: an S3 that cannot be reached in time. */
async function blackhole(t: Test): Promise<{ endpoint: string; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>()
  const server = createTcpServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()) }))
  return { endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`, sockets }
}

async function listen(t: Test, server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

/** Writes raw bytes and collects everything until the server closes the connection. */
async function raw(port: number, bytes: string | Buffer, opts: { keepOpen?: boolean } = {}): Promise<{ text: string; ms: number }> {
  const started = Date.now()
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(bytes)
  if (!opts.keepOpen) socket.end()
  let text = ''
  socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1') })
  // 'close', not once(socket, 'close'), which rejects when a reset comes as an 'error' first.
  await new Promise((resolve) => socket.once('close', resolve))
  return { text, ms: Date.now() - started }
}

function parse(text: string): { status: number; headers: string; body: any } {
  const at = text.indexOf('\r\n\r\n')
  const head = text.slice(0, at)
  const bodyText = text.slice(at + 4)
  // Chunked answers (Fastify's) carry one JSON chunk; raw answers carry plain JSON.
  const json = bodyText.startsWith('{') ? bodyText : bodyText.slice(bodyText.indexOf('\r\n') + 2, bodyText.lastIndexOf('}') + 1)
  return { status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body: JSON.parse(json) }
}

async function app(t: Test, env: Record<string, string>): Promise<{ app: FastifyInstance; port: number }> {
  const config = loadConfig(Schema, { env: { BUCKET: 'kmsworkshop-111122223333', LOG_LEVEL: 'silent', ...credentials(t.testdir()), ...env } })
  const fastify = Fastify(serverOptions(config, 'test'))
  await fastify.register(basePlugin, { config })
  fastify.post('/echo', { schema: { body: Type.Object({ n: Type.Integer() }) } }, async (request) => request.body)
  fastify.get('/items/:id', async () => ({ ok: true }))
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => fastify.close())
  return { app: fastify, port: (fastify.server.address() as { port: number }).port }
}

t.test('what Fastify and Node refuse is problem+json with what to fix', async (t) => {
  const { port } = await app(t, {})
  const base = `http://127.0.0.1:${port}`

  const badUrl = parse((await raw(port, 'GET /items/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).text)
  t.equal(badUrl.status, 400)
  t.match(badUrl.headers, /content-type: application\/problem\+json/)
  t.match(badUrl.body, { type: 'urn:kms-share:problem:SHR_BAD_URL', title: 'Bad Request', status: 400, code: 'SHR_BAD_URL', detail: /%25/ })

  const longParam = parse((await raw(port, `GET /items/${'x'.repeat(200)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).text)
  t.equal(longParam.status, 414)
  t.match(longParam.body, { code: 'SHR_URL_TOO_LONG', title: 'URI Too Long', status: 414 })

  const absurd = parse((await raw(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999999999\r\n\r\n{}')).text)
  t.equal(absurd.status, 400)
  t.match(absurd.headers, /content-type: application\/problem\+json/)
  t.match(absurd.body, { type: 'urn:kms-share:problem:SHR_MALFORMED_REQUEST', status: 400, code: 'SHR_MALFORMED_REQUEST', detail: /Content-Length/, requestId: /^[0-9a-f-]{36}$/ })

  const notNumber = parse((await raw(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n')).text)
  t.match(notNumber.body, { status: 400, code: 'SHR_MALFORMED_REQUEST', detail: /decimal number/ })

  const both = parse((await raw(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).text)
  t.match(both.body, { status: 400, code: 'SHR_MALFORMED_REQUEST', detail: /only one of Transfer-Encoding and Content-Length/ })

  const overflow = parse((await raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).text)
  t.equal(overflow.status, 431)
  t.match(overflow.body, { code: 'SHR_HEADERS_TOO_LARGE', title: 'Request Header Fields Too Large' })

  // A body over Fastify's 1 MiB bodyLimit, announced by a huge but well-formed Content-Length.
  const huge = parse((await raw(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\nConnection: close\r\n\r\n{')).text)
  t.equal(huge.status, 413)
  t.match(huge.body, { code: 'SHR_PAYLOAD_TOO_LARGE', status: 413 })

  const badJson = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":' })
  t.equal(badJson.status, 400)
  t.equal(badJson.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  t.match(await badJson.json(), { type: /^urn:kms-share:problem:SHR_/, title: 'Bad Request', status: 400, detail: /JSON/, code: 'SHR_BAD_REQUEST' })

  const media = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b' })
  t.equal(media.status, 415)
  t.match(await media.json(), { code: 'SHR_UNSUPPORTED_MEDIA_TYPE', status: 415 })

  const missing = await fetch(`${base}/nothing/here`)
  t.equal(missing.status, 404)
  t.equal(missing.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  t.match(await missing.json(), { code: 'SHR_NOT_FOUND', title: 'Not Found', detail: 'No route GET /nothing/here' })
})

t.test('header, whole-request and idle deadlines', async (t) => {
  const { port } = await app(t, { HTTP_HEADERS_TIMEOUT_MS: '600', HTTP_REQUEST_TIMEOUT_MS: '1500', HTTP_IDLE_TIMEOUT_MS: '30000' })

  // Headers that never finish: 408 after about HTTP_HEADERS_TIMEOUT_MS (Node checks every quarter of it).
  const slowHeaders = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', { keepOpen: true })
  t.ok(slowHeaders.ms >= 500 && slowHeaders.ms < 3_000, `closed after ${slowHeaders.ms} ms`)
  const headersAnswer = parse(slowHeaders.text)
  t.equal(headersAnswer.status, 408)
  t.match(headersAnswer.body, { code: 'SHR_REQUEST_TIMEOUT', title: 'Request Timeout', status: 408 })

  // A body that keeps trickling (never idle) but never ends: 408 after HTTP_REQUEST_TIMEOUT_MS.
  const started = Date.now()
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"n":')
  const trickle = setInterval(() => socket.write(' '), 100)
  t.teardown(() => { clearInterval(trickle); socket.destroy() })
  let text = ''
  // Stop trickling once the answer comes: a write after the server closed makes it reset the
  // connection, and on a loaded machine that reset could race the 408 ('close', not once(): a
  // reset is an 'error', which would reject once()).
  socket.on('data', (chunk: Buffer) => { clearInterval(trickle); text += chunk.toString('latin1') })
  await new Promise((resolve) => socket.once('close', resolve))
  const ms = Date.now() - started
  t.ok(ms >= 1_400 && ms < 4_000, `trickling request cut after ${ms} ms`)
  t.match(parse(text).body, { code: 'SHR_REQUEST_TIMEOUT', status: 408 })
})

t.test('a connection that moves nothing is closed after HTTP_IDLE_TIMEOUT_MS', async (t) => {
  const { port } = await app(t, { HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '20000', HTTP_IDLE_TIMEOUT_MS: '700' })
  // Headers done, body announced, then silence: the request deadlines are far, the idle one is not.
  const stalled = await raw(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{', { keepOpen: true })
  t.ok(stalled.ms >= 600 && stalled.ms < 5_000, `idle connection closed after ${stalled.ms} ms`)
})

t.test('a request that arrives while closing gets SHR_SHUTTING_DOWN as problem+json', async (t) => {
  const config = loadConfig(Schema, { env: { BUCKET: 'kmsworkshop-111122223333', LOG_LEVEL: 'silent', ...credentials(t.testdir()) } })
  const fastify = Fastify(serverOptions(config, 'test'))
  await fastify.register(basePlugin, { config })
  let release!: () => void
  const held = new Promise<void>((r) => { release = r })
  let entered!: () => void
  const inside = new Promise<void>((r) => { entered = r })
  fastify.get('/hold', async () => { entered(); await held; return { ok: true } })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  const port = (fastify.server.address() as { port: number }).port
  // A second request on the same busy keep-alive connection, sent once closing has begun.
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  let text = ''
  socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1') })
  socket.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n')
  await inside
  const closing = fastify.close()
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((r) => setTimeout(r, 200))
  release()
  await once(socket, 'close')
  await closing
  t.match(text, /^HTTP\/1\.1 200/, 'the request in flight finishes')
  const second = text.slice(text.indexOf('HTTP/1.1', 10))
  t.equal(parse(second).status, 503)
  t.match(parse(second).headers, /content-type: application\/problem\+json/)
  t.match(parse(second).body, { code: 'SHR_SHUTTING_DOWN', status: 503, title: 'Service Unavailable' })
})

t.test('/readyz fails within READINESS_TIMEOUT_MS when S3 does not answer', async (t) => {
  const { endpoint } = await blackhole(t)
  const config = loadConfig(Schema, { env: { BUCKET: 'kmsworkshop-111122223333', LOG_LEVEL: 'silent', READINESS_TIMEOUT_MS: '500', AWS_ENDPOINT_URL: endpoint, ...credentials(t.testdir()) } })
  const fastify = Fastify(serverOptions(config, 'test'))
  await fastify.register(basePlugin, { config })
  await fastify.register(s3Plugin, { config })
  let aborted = false
  fastify.addReadinessCheck('s3', async (signal) => {
    signal.addEventListener('abort', () => { aborted = true })
    await fastify.s3.send(new HeadBucketCommand({ Bucket: config.BUCKET }), { abortSignal: signal })
  })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => fastify.close())
  const started = Date.now()
  const r = await fetch(`http://127.0.0.1:${(fastify.server.address() as { port: number }).port}/readyz`)
  const ms = Date.now() - started
  t.equal(r.status, 503)
  t.ok(ms >= 450 && ms < 2_000, `answered after ${ms} ms`)
  t.match(await r.json(), { code: 'SHR_UNAVAILABLE', detail: 'The service is not ready: s3: no answer within 500 ms' })
  t.ok(aborted, 'the check was told to give up')
})

t.test('AWS clients: idle-socket and whole-call timeouts, a bounded pool', async (t) => {
  const env = { BUCKET: 'kmsworkshop-111122223333', ...credentials(t.testdir()) }

  const { endpoint: silent } = await blackhole(t)
  const idle = createS3Client({ ...env, AWS_ENDPOINT_URL: silent, AWS_CLIENT_SOCKET_TIMEOUT_MS: '400' }, { maxAttempts: 1 })
  t.teardown(() => idle.destroy())
  let started = Date.now()
  const idleErr = await idle.send(new HeadObjectCommand({ Bucket: env.BUCKET, Key: 'a' })).catch((e: Error) => e)
  t.match(idleErr, { name: 'TimeoutError' })
  t.ok(Date.now() - started < 3_000, `idle socket given up after ${Date.now() - started} ms`)

  // Headers trickled one line at a time: the socket is never idle, the answer never complete.
  const trickler = createServer((req, res) => {
    const socket = res.socket!
    socket.write('HTTP/1.1 200 OK\r\n')
    const timer = setInterval(() => socket.write('x-amz-trickle: 1\r\n'), 100)
    socket.on('close', () => clearInterval(timer))
    req.resume()
  })
  const trickling = await listen(t, trickler)
  const whole = createS3Client({ ...env, AWS_ENDPOINT_URL: trickling, AWS_CLIENT_SOCKET_TIMEOUT_MS: '5000', AWS_CLIENT_REQUEST_TIMEOUT_MS: '800' }, { maxAttempts: 1 })
  t.teardown(() => whole.destroy())
  started = Date.now()
  const wholeErr = await whole.send(new GetObjectCommand({ Bucket: env.BUCKET, Key: 'a' })).catch((e: Error) => e)
  const wholeMs = Date.now() - started
  t.match(wholeErr, { name: 'TimeoutError' })
  t.ok(wholeMs >= 700 && wholeMs < 3_000, `whole call cut after ${wholeMs} ms`)

  // A pool of 3: ten calls at once, never more than three in flight (each holds its socket).
  let open = 0
  let most = 0
  const slow = createServer((req, res) => {
    open++
    most = Math.max(most, open)
    req.resume()
    setTimeout(() => { open--; res.writeHead(200, { 'etag': '"e"', 'content-length': 0 }).end() }, 150)
  })
  const slowUrl = await listen(t, slow)
  const pooled = createS3Client({ ...env, AWS_ENDPOINT_URL: slowUrl, AWS_CLIENT_MAX_SOCKETS: '3' })
  t.teardown(() => pooled.destroy())
  const heads = await Promise.all(Array.from({ length: 10 }, (_, i) => pooled.send(new HeadObjectCommand({ Bucket: env.BUCKET, Key: `k${i}` }))))
  t.equal(heads.length, 10)
  t.equal(most, 3, 'at most AWS_CLIENT_MAX_SOCKETS calls at once')
})
