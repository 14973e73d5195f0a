// The download service against the lab: every refusal — Fastify's and Node's own included — is
// application/problem+json with type/title/status/detail/code, a 5xx never carries internals, and
// object names with bidi controls or invisible characters are shown escaped and never saved as-is.
import t from 'tap'
import { connect, createServer as createTcpServer, type Socket } from 'node:net'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { runInNewContext } from 'node:vm'
import { AUTH, CACHE_ADMIN_AUTH, filePath, putObject, s3As, startDownload, startTestLab } from './helpers.js'

/** Raw bytes (what fetch would never send), the answer read until the server closes. */
async function raw(url: string, bytes: string): Promise<{ status: number; type: string; body: any }> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.end(bytes)
  let text = ''
  socket.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
  await once(socket, 'close')
  const [head, ...rest] = text.split('\r\n\r\n')
  let body = rest.join('\r\n\r\n')
  if (/transfer-encoding: chunked/i.test(head)) body = body.slice(body.indexOf('\r\n') + 2, body.lastIndexOf('}') + 1)
  return { status: Number(head.split(' ')[1]), type: /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? '', body: JSON.parse(body) }
}

const PROBLEM = 'application/problem+json; charset=utf-8'

t.test('download: Fastify and Node refusals are problem+json', async (t) => {
  const lab = await startTestLab(t)
  const { url, api, cacheAdmin } = await startDownload(t, lab, 'downloader', { LOG_LEVEL: 'silent' })

  const badEscape = await raw(url, `GET /files/report%zz.pdf HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.authorization}\r\nConnection: close\r\n\r\n`)
  t.match(badEscape, { status: 400, type: PROBLEM, body: { type: 'urn:kms-share:problem:SHR_BAD_URL', title: 'Bad Request', status: 400, code: 'SHR_BAD_URL', detail: /%25/ } })

  const absurd = await raw(url, `DELETE /cache HTTP/1.1\r\nHost: x\r\nAuthorization: ${CACHE_ADMIN_AUTH.authorization}\r\nContent-Length: 184467440737095516160\r\n\r\n`)
  t.match(absurd, { status: 400, type: PROBLEM, body: { code: 'SHR_MALFORMED_REQUEST', title: 'Bad Request', detail: /Content-Length/ } })

  const tooLarge = await raw(url, `DELETE /cache HTTP/1.1\r\nHost: x\r\nAuthorization: ${CACHE_ADMIN_AUTH.authorization}\r\nContent-Type: application/json\r\nContent-Length: 5000000000\r\nConnection: close\r\n\r\n{`)
  t.match(tooLarge, { status: 413, type: PROBLEM, body: { code: 'SHR_PAYLOAD_TOO_LARGE', title: 'Content Too Large', status: 413 } })

  const badJson = await cacheAdmin('/cache', { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: '{"all":' })
  t.equal(badJson.status, 400)
  t.equal(badJson.headers.get('content-type'), PROBLEM)
  t.match(await badJson.json(), { type: 'urn:kms-share:problem:SHR_BAD_REQUEST', title: 'Bad Request', status: 400, code: 'SHR_BAD_REQUEST', detail: /JSON/ })

  const noRoute = await api('/nowhere')
  t.equal(noRoute.status, 404)
  t.equal(noRoute.headers.get('content-type'), PROBLEM)
  t.match(await noRoute.json(), { type: 'urn:kms-share:problem:SHR_NOT_FOUND', title: 'Not Found', status: 404, detail: 'No route GET /nowhere', code: 'SHR_NOT_FOUND' })

  const headers = await raw(url, `GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: ${'c'.repeat(20_000)}\r\n\r\n`)
  t.match(headers, { status: 431, type: PROBLEM, body: { code: 'SHR_HEADERS_TOO_LARGE' } })
})

t.test('download: a 5xx never carries what S3 or the code said', async (t) => {
  const lab = await startTestLab(t)
  // An S3 endpoint that fails with internals in its answer.
  const broken = createServer((req, res) => {
    req.resume()
    res.writeHead(500, { 'content-type': 'application/xml' }).end('<Error><Code>InternalError</Code><Message>db=10.0.0.7 password=hunter2 at /srv/s3/handler.js:42</Message></Error>')
  })
  broken.listen(0, '127.0.0.1')
  await once(broken, 'listening')
  t.teardown(() => new Promise<void>((r) => broken.close(() => r())))
  const { api } = await startDownload(t, lab, 'downloader', { LOG_LEVEL: 'silent', AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${(broken.address() as { port: number }).port}` })
  for (const path of ['/files', '/files/a.txt']) {
    const r = await api(`${path}`)
    const text = await r.text()
    t.ok(r.status >= 500, `${path}: ${r.status}`)
    t.equal(r.headers.get('content-type'), PROBLEM)
    t.match(JSON.parse(text), { type: /^urn:kms-share:problem:SHR_/, title: /./, status: r.status, detail: /./, code: /^SHR_/ })
    t.notMatch(text, /hunter2|10\.0\.0\.7|handler\.js|at \//, `${path}: no internals`)
  }
})

t.test('download: names with bidi controls or invisible characters are shown escaped and saved defused', async (t) => {
  const lab = await startTestLab(t)
  // Written straight to S3 by someone allowed to (upload itself refuses such names).
  const admin = s3As(lab, 'admin')
  t.teardown(() => admin.destroy())
  const spoof = 'invoice\u202Efdp.exe'
  await putObject(admin, spoof, 'MZ not a pdf')
  await putObject(admin, 'pay\u200Bpal.txt', 'x')
  await putObject(admin, 'می\u200Cخواهم.txt', 'salam')
  const { url, api } = await startDownload(t, lab, 'downloader', { LOG_LEVEL: 'silent' })

  // The page draws names in the browser with the frame's kms.shownName, run here as the browser runs it.
  const listed = await (await api('/files')).json() as { items: Array<{ key: string }> }
  t.ok(listed.items.some((i) => i.key === spoof), 'the JSON keeps the real key (links name it)')
  const window: Record<string, any> = {}
  runInNewContext(await (await fetch(`${url}/auth/assets/frame.js`)).text(), { window, Date, Number, Object, Array, Promise, RegExp, String })
  const shown = window.kms.shownName as (key: string) => string
  t.equal(shown(spoof), 'invoice⟨U+202E⟩fdp.exe', 'the override is written out, not obeyed')
  t.equal(shown('pay\u200Bpal.txt'), 'pay⟨U+200B⟩pal.txt')
  t.equal(shown('می\u200Cخواهم.txt'), 'می\u200Cخواهم.txt', 'a joiner Persian needs is left alone')
  t.match(await (await fetch(`${url}/auth/assets/objects.js`)).text(), /'text': shown \}/, 'the object list names objects through it')

  const got = await api(`${filePath(spoof)}`)
  t.equal(got.status, 200)
  t.equal(await got.text(), 'MZ not a pdf')
  const disposition = got.headers.get('content-disposition') ?? ''
  t.equal(disposition, `attachment; filename="invoice_fdp.exe"; filename*=UTF-8''invoice_fdp.exe`, 'saved as invoice_fdp.exe, never as "invoiceexe.pdf"')
})

t.test('download: /readyz answers 503 within READINESS_TIMEOUT_MS when S3 does not answer', async (t) => {
  const lab = await startTestLab(t)
  const held = new Set<Socket>()
  const blackhole = createTcpServer((socket) => { held.add(socket); socket.on('error', () => {}) })
  blackhole.listen(0, '127.0.0.1')
  await once(blackhole, 'listening')
  t.teardown(() => new Promise<void>((r) => { for (const s of held) s.destroy(); blackhole.close(() => r()) }))
  const { url } = await startDownload(t, lab, 'downloader', { LOG_LEVEL: 'silent', READINESS_TIMEOUT_MS: '800', AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${(blackhole.address() as { port: number }).port}` })
  const started = Date.now()
  const r = await fetch(`${url}/readyz`)
  const ms = Date.now() - started
  t.equal(r.status, 503)
  t.equal(r.headers.get('content-type'), PROBLEM)
  t.match(await r.json(), { code: 'SHR_UNAVAILABLE', detail: /s3: no answer within 800 ms/ })
  t.ok(ms >= 700 && ms < 3_000, `answered after ${ms} ms`)
})
