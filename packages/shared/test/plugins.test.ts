// Shared plugins and the client factory over real sockets: a small HTTP server plays S3's
// wire format (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) so the real SDK parses it.
import t from 'tap'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { basePlugin, createS3Client, loadConfig, s3Plugin, serverOptions, serviceConfigProperties, portProperty, toProblem } from '../src/index.js'
import { Type } from 'typebox'

const DENIAL = 'User: arn:aws:sts::111122223333:assumed-role/KMSWorkshop-Downloader/dl is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::kmsworkshop-111122223333/a.txt" because no identity-based policy allows the s3:PutObject action'

async function fakeS3(t: { teardown(fn: () => unknown): void }) {
  const seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = []
  const server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers })
    req.resume()
    req.on('end', () => {
      if (req.method === 'HEAD') { res.writeHead(200, { etag: '"abc"' }).end(); return }
      res.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': 'R123' })
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>${DENIAL.replace(/"/g, '&quot;')}</Message><RequestId>R123</RequestId></Error>`)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const { port } = server.address() as { port: number }
  return { endpoint: `http://127.0.0.1:${port}`, seen }
}

const Schema = Type.Object({ ...serviceConfigProperties, PORT: portProperty(0) })

t.test('S3 client: profile from the shared files, path-style against the endpoint, denial parsed', async (t) => {
  const { endpoint, seen } = await fakeS3(t)
  const dir = t.testdir()
  writeFileSync(join(dir, 'credentials'), '[downloader]\naws_access_key_id = AKIADOWNLOADER0000001\naws_secret_access_key = secret\n')
  writeFileSync(join(dir, 'config'), '[profile downloader]\nregion = eu-west-1\n')
  const config = loadConfig(Schema, { env: {
    BUCKET: 'kmsworkshop-111122223333', AWS_PROFILE: 'downloader', AWS_ENDPOINT_URL: endpoint,
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), AWS_CONFIG_FILE: join(dir, 'config'),
  } })
  const s3 = createS3Client(config)
  t.teardown(() => s3.destroy())
  const head = await s3.send(new HeadObjectCommand({ Bucket: config.BUCKET, Key: 'dir/a b.txt' }))
  t.equal(head.ETag, '"abc"')
  t.equal(seen[0].url, '/kmsworkshop-111122223333/dir/a%20b.txt', 'path-style addressing')
  t.match(String(seen[0].headers.authorization), /Credential=AKIADOWNLOADER0000001\/\d{8}\/eu-west-1\/s3\/aws4_request/, 'profile credentials and region from the files')
  const err = await s3.send(new PutObjectCommand({ Bucket: config.BUCKET, Key: 'a.txt', Body: 'x' })).catch((e: unknown) => e)
  const problem = toProblem(err)
  t.match(problem, { status: 403, code: 'SHR_AWS_ACCESS_DENIED', awsErrorCode: 'AccessDenied', action: 's3:PutObject', detail: DENIAL, awsRequestId: 'R123' })
})

t.test('basePlugin: problem+json, request ids, health and readiness', async (t) => {
  const { endpoint } = await fakeS3(t)
  const dir = t.testdir()
  writeFileSync(join(dir, 'credentials'), '[p]\naws_access_key_id = AKIAP\naws_secret_access_key = s\n')
  const config = loadConfig(Schema, { env: { BUCKET: 'kmsworkshop-111122223333', LOG_LEVEL: 'silent', AWS_PROFILE: 'p', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: endpoint, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), AWS_CONFIG_FILE: join(dir, 'none') } })
  const app = Fastify(serverOptions(config, 'test'))
  await app.register(basePlugin)
  await app.register(s3Plugin, { config })
  let ready = true
  app.addReadinessCheck('s3', async () => { if (!ready) await app.s3.send(new PutObjectCommand({ Bucket: config.BUCKET, Key: 'probe', Body: '' })) })
  app.get('/boom', async () => { throw new Error('db password is hunter2') })
  app.get('/denied', async () => app.s3.send(new PutObjectCommand({ Bucket: config.BUCKET, Key: 'a.txt', Body: 'x' })))
  app.post('/typed', { schema: { body: Type.Object({ n: Type.Integer() }) } }, async () => ({ ok: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`

  const health = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'abc-123' } })
  t.equal(health.status, 200)
  t.equal(health.headers.get('x-request-id'), 'abc-123', 'a well-formed request id is echoed')
  const weird = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'bad id\u0001' } }).catch(() => null)
  if (weird) t.match(weird.headers.get('x-request-id'), /^[0-9a-f-]{36}$/, 'a malformed one is replaced')
  t.same(await (await fetch(`${base}/readyz`)).json(), { status: 'ready', checks: { s3: 'ok' } })
  ready = false
  const notReady = await fetch(`${base}/readyz`)
  t.equal(notReady.status, 503)
  t.match(await notReady.json(), { code: 'SHR_UNAVAILABLE', awsErrorCode: 'AccessDenied' })

  const boom = await fetch(`${base}/boom`)
  t.equal(boom.status, 500)
  t.equal(boom.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  const boomBody = await boom.text()
  t.notMatch(boomBody, /hunter2/, 'no internals on 5xx')
  t.match(JSON.parse(boomBody), { type: 'urn:kms-share:problem:SHR_INTERNAL', title: 'Internal Server Error', status: 500, code: 'SHR_INTERNAL', instance: '/boom' })

  const denied = await fetch(`${base}/denied`)
  t.equal(denied.status, 403)
  t.match(await denied.json(), { code: 'SHR_AWS_ACCESS_DENIED', action: 's3:PutObject', awsErrorCode: 'AccessDenied' })

  const missing = await fetch(`${base}/nope?x=1`)
  t.equal(missing.status, 404)
  t.match(await missing.json(), { code: 'SHR_NOT_FOUND', detail: 'No route GET /nope' })

  const invalid = await fetch(`${base}/typed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":"x"}' })
  t.equal(invalid.status, 400)
  t.match(await invalid.json(), { code: 'SHR_VALIDATION' })
})
