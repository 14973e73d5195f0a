// Who may upload, through real HTTP against the lab: 401 without credentials, the upload scope
// enforced before any body reaches S3, and the cross-site form post (a CORS-simple
// multipart POST with ?overwrite=true, a foreign Origin and the victim's cookie) refused.
import t from 'tap'
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3'
import { generateToken, hashToken } from '@kms-share/shared'
import { buildApp, loadUploadConfig } from '../src/app.js'
import { BUCKET, clientsAs, formParts, labEnv, startTestLab, startUpload } from './helpers.js'

const UPLOADER = generateToken()
const READER = generateToken()
const AUTH = {
  AUTH_DISABLED: 'false',
  AUTH_TOKENS: `ci-upload:upload:${hashToken(UPLOADER)},ci-read:download:${hashToken(READER)}`,
  SESSION_SECRET: 'upload-auth-test-session-secret-0123456789',
}
const B = 'authBoundary0123456789'

async function objectBody(lab: Parameters<typeof clientsAs>[0], key: string): Promise<string | undefined> {
  try {
    const out = await clientsAs(lab, 'admin').s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
    return await out.Body!.transformToString()
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined
    throw err
  }
}

t.test('upload: 401 without credentials on every route but health and sign-in; the upload scope enforced', async (t) => {
  const lab = await startTestLab(t)
  const { url } = await startUpload(t, lab, 'uploader', AUTH)
  const routes: Array<[string, string, RequestInit?]> = [
    ['PUT', '/files/anonymous.txt', { body: 'x' }],
    ['POST', '/files', { body: formParts(B, [{ name: 'file', filename: 'anonymous.txt', body: 'x' }]), headers: { 'content-type': `multipart/form-data; boundary=${B}` } }],
    ['GET', '/files'],
    ['GET', '/'],
    ['GET', '/app.js'],
    ['GET', '/docs/json'],
  ]
  for (const [method, path, init] of routes) {
    const r = await fetch(url + path, { method, ...init })
    t.equal(r.status, 401, `${method} ${path}: 401`)
    t.equal(r.headers.get('www-authenticate'), 'Bearer realm="kms-share"')
    t.match(await r.json(), { code: 'SHR_UNAUTHENTICATED' })
  }
  t.equal(await objectBody(lab, 'anonymous.txt'), undefined, 'nothing was stored')
  t.equal((await fetch(`${url}/healthz`)).status, 200)
  t.equal((await fetch(`${url}/readyz`)).status, 200)
  t.equal((await fetch(`${url}/auth/login`)).status, 200)

  const reader = await fetch(`${url}/files/reader.txt`, { method: 'PUT', body: 'x', headers: { authorization: `Bearer ${READER}` } })
  t.equal(reader.status, 403)
  t.match(await reader.json(), { code: 'SHR_MISSING_SCOPE', missingScopes: ['upload'], detail: /needs the scope upload; ci-read holds download/ })
  t.equal(await objectBody(lab, 'reader.txt'), undefined, 'a token without the upload scope stores nothing')

  const put = await fetch(`${url}/files/scripted.txt`, { method: 'PUT', body: 'by script', headers: { authorization: `Bearer ${UPLOADER}` } })
  t.equal(put.status, 201)
  t.equal(await objectBody(lab, 'scripted.txt'), 'by script')
  const list: any = await (await fetch(`${url}/files`, { headers: { authorization: `Bearer ${UPLOADER}` } })).json()
  t.ok(list.items.some((o: { key: string }) => o.key === 'scripted.txt'))
})

t.test('upload: a cross-site form post with the cookie cannot overwrite an object', async (t) => {
  const lab = await startTestLab(t)
  const { url } = await startUpload(t, lab, 'uploader', AUTH)
  const bearer = { authorization: `Bearer ${UPLOADER}` }
  t.equal((await fetch(`${url}/files/invoice.pdf`, { method: 'PUT', body: 'the real invoice', headers: bearer })).status, 201)

  // The victim signed in on the page earlier: the browser holds the session cookie.
  const session = await fetch(`${url}/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: UPLOADER }) })
  t.equal(session.status, 200)
  const { csrfToken } = await session.json() as { csrfToken: string }
  const cookie = session.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
  const evilForm = formParts(B, [{ name: 'key', body: 'invoice.pdf' }, { name: 'file', filename: 'invoice.pdf', type: 'application/pdf', body: 'a forged invoice' }])
  const formHeaders = { cookie, 'content-type': `multipart/form-data; boundary=${B}` }

  // What a browser sends for <form method=post enctype=multipart/form-data action=…/files?overwrite=true> on another site.
  const attack = await fetch(`${url}/files?overwrite=true`, { method: 'POST', body: evilForm, headers: { ...formHeaders, 'origin': 'https://evil.example', 'sec-fetch-site': 'cross-site' } })
  t.equal(attack.status, 403)
  t.match(await attack.json(), { code: 'SHR_CROSS_SITE' })
  // Older browsers send no Sec-Fetch-Site; the Origin alone is enough.
  const originOnly = await fetch(`${url}/files?overwrite=true`, { method: 'POST', body: evilForm, headers: { ...formHeaders, origin: 'https://evil.example' } })
  t.equal(originOnly.status, 403)
  // And a request with neither header still needs the CSRF token the page holds.
  const noToken = await fetch(`${url}/files?overwrite=true`, { method: 'POST', body: evilForm, headers: formHeaders })
  t.equal(noToken.status, 403)
  t.match(await noToken.json(), { code: 'SHR_CSRF' })
  t.equal(await objectBody(lab, 'invoice.pdf'), 'the real invoice', 'the object was not overwritten')

  // The page itself (same origin, with its CSRF token) still uploads through the cookie.
  const own = await fetch(`${url}/files?overwrite=true`, { method: 'POST', body: formParts(B, [{ name: 'key', body: 'invoice.pdf' }, { name: 'file', filename: 'invoice.pdf', body: 'the corrected invoice' }]), headers: { ...formHeaders, 'origin': url, 'sec-fetch-site': 'same-origin', 'x-csrf-token': csrfToken } })
  t.equal(own.status, 201)
  t.equal(await objectBody(lab, 'invoice.pdf'), 'the corrected invoice')
  const head = await clientsAs(lab, 'admin').s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'invoice.pdf' }))
  t.equal(head.ServerSideEncryption, 'aws:kms')
})

t.test('upload: refuses to start beyond loopback without authentication', async (t) => {
  const lab = await startTestLab(t)
  const noTokens = labEnv(lab, 'uploader', { HOST: '0.0.0.0', AUTH_DISABLED: 'false' })
  delete noTokens.AUTH_TOKENS
  const open = loadUploadConfig(noTokens)
  await t.rejects(buildApp(open), /refusing to listen on 0\.0\.0\.0 without authentication/)
  const disabled = loadUploadConfig(labEnv(lab, 'uploader', { HOST: '0.0.0.0', AUTH_DISABLED: 'true' }))
  await t.rejects(buildApp(disabled), /AUTH_DISABLED is for loopback/)
  const app = await buildApp(loadUploadConfig(labEnv(lab, 'uploader', { HOST: '0.0.0.0', ...AUTH })))
  t.teardown(() => app.close())
  t.ok(app, 'with tokens it builds')
})
