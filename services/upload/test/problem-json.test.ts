// The upload service against the lab: every refusal — Fastify's and Node's own included — is
// application/problem+json with type/title/status/detail/code, a 5xx never carries internals, and
// the page's listing writes out bidi controls and invisible characters in names stored by others.
import t from 'tap'
import { connect } from 'node:net'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { runInNewContext } from 'node:vm'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { AUTH, BUCKET, clientsAs, startTestLab, startUpload } from './helpers.js'
import { labDeployment } from '@kms-share/aws-lab/testing'

const PROBLEM = 'application/problem+json; charset=utf-8'

/** Raw bytes (what fetch would never send), the answer read until the server closes. */
async function raw(port: number, bytes: string): Promise<{ status: number; type: string; body: any }> {
  const socket = connect(port, '127.0.0.1')
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

t.test('upload: Fastify and Node refusals are problem+json', async (t) => {
  const lab = await startTestLab(t)
  const { port, api } = await startUpload(t, lab, 'uploader', { MAX_UPLOAD_BYTES: String(1024 * 1024) })

  const badEscape = await raw(port, `PUT /files/report%zz.pdf HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.authorization}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`)
  t.match(badEscape, { status: 400, type: PROBLEM, body: { type: 'urn:kms-share:problem:SHR_BAD_URL', title: 'Bad Request', status: 400, code: 'SHR_BAD_URL', detail: /%25/ } })

  const absurd = await raw(port, `PUT /files/a.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.authorization}\r\nContent-Length: 184467440737095516160\r\n\r\n`)
  t.match(absurd, { status: 400, type: PROBLEM, body: { code: 'SHR_MALFORMED_REQUEST', title: 'Bad Request', status: 400, detail: /Content-Length/ } })

  const overLimit = await raw(port, `PUT /files/a.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.authorization}\r\nContent-Length: 999999999999\r\n\r\n`)
  t.match(overLimit, { status: 413, type: PROBLEM, body: { code: 'UPL_TOO_LARGE', title: 'Content Too Large', status: 413 } })

  const jsonTooLarge = await raw(port, `POST /files HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.authorization}\r\nContent-Type: application/json\r\nContent-Length: 5000000000\r\nConnection: close\r\n\r\n{`)
  t.match(jsonTooLarge, { status: 413, type: PROBLEM, body: { code: 'SHR_PAYLOAD_TOO_LARGE', status: 413 } })

  const badJson = await api('/files', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":' })
  t.equal(badJson.status, 400)
  t.equal(badJson.headers.get('content-type'), PROBLEM)
  t.match(await badJson.json(), { type: 'urn:kms-share:problem:SHR_BAD_REQUEST', title: 'Bad Request', status: 400, code: 'SHR_BAD_REQUEST', detail: /JSON/ })

  const noRoute = await api('/files/a.txt', { method: 'DELETE' })
  t.equal(noRoute.status, 404)
  t.equal(noRoute.headers.get('content-type'), PROBLEM)
  t.match(await noRoute.json(), { type: 'urn:kms-share:problem:SHR_NOT_FOUND', title: 'Not Found', status: 404, code: 'SHR_NOT_FOUND', detail: 'No route DELETE /files/a.txt' })

  const headers = await raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: ${'c'.repeat(20_000)}\r\n\r\n`)
  t.match(headers, { status: 431, type: PROBLEM, body: { code: 'SHR_HEADERS_TOO_LARGE' } })

  const chunkedAndLength = await raw(port, `PUT /files/a.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.authorization}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`)
  t.match(chunkedAndLength, { status: 400, type: PROBLEM, body: { code: 'SHR_MALFORMED_REQUEST' } })
})

t.test('upload: a 5xx never carries what S3 or the code said', async (t) => {
  const lab = await startTestLab(t)
  const broken = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(500, { 'content-type': 'application/xml' }).end('<Error><Code>InternalError</Code><Message>db=10.0.0.7 password=hunter2 at /srv/s3/handler.js:42</Message></Error>'))
  })
  broken.listen(0, '127.0.0.1')
  await once(broken, 'listening')
  t.teardown(() => new Promise<void>((r) => { broken.closeAllConnections(); broken.close(() => r()) }))
  const { api } = await startUpload(t, lab, 'uploader', { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${(broken.address() as { port: number }).port}` })
  for (const [method, path, body] of [['GET', '/files', undefined], ['PUT', '/files/a.txt', 'hello']] as const) {
    const r = await api(`${path}`, { method, ...(body ? { body } : {}) })
    const text = await r.text()
    t.ok(r.status >= 500, `${method} ${path}: ${r.status}`)
    t.equal(r.headers.get('content-type'), PROBLEM)
    t.match(JSON.parse(text), { type: /^urn:kms-share:problem:SHR_/, title: /./, status: r.status, detail: /./, code: /^SHR_/ })
    t.notMatch(text, /hunter2|10\.0\.0\.7|handler\.js|at \//, `${method} ${path}: no internals`)
  }
})

t.test("upload page: the listing writes out bidi controls and invisible characters in others' names", async (t) => {
  const lab = await startTestLab(t)
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())
  const spoof = 'invoice\u202Efdp.exe'
  await admin.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: spoof, Body: 'MZ', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: labDeployment(lab).keyArn }))
  const { url, api } = await startUpload(t, lab)
  const listed: any = await (await api('/files')).json()
  t.equal(listed.items[0].key, spoof, 'the JSON keeps the real key')

  // The frame's naming function (window.kms.shownName), served as the browser loads it, run as it would run it.
  const frame = await (await fetch(`${url}/auth/assets/frame.js`)).text()
  const window: Record<string, any> = {}
  runInNewContext(frame, { window, Date, Number, Object, Array, Promise, RegExp, String })
  const shown = window.kms.shownName as (key: string) => string
  t.equal(shown(spoof), 'invoice⟨U+202E⟩fdp.exe')
  t.equal(shown('pay\u200Bpal.txt'), 'pay⟨U+200B⟩pal.txt')
  t.equal(shown('می\u200Cخواهم.txt'), 'می\u200Cخواهم.txt', 'a joiner Persian needs is left alone')
  t.equal(shown('👩\u200D💻.png'), '👩\u200D💻.png')
  const browser = await (await fetch(`${url}/auth/assets/objects.js`)).text()
  t.match(browser, /'text': shown }/, 'the object list shows names through kms.shownName')
  t.match(browser, /const shown = kms\.shownName\(/)
})
