// Who may read, through real HTTP against the lab: 401 without credentials, the download scope
// for objects and the page, cache:admin for GET/DELETE /cache, cookie sessions checked for
// Origin and CSRF, and OIDC JWTs from a test issuer whose JWKS this file serves on a local port.
// JWT: RFC 7519 (exp, aud, iss); JWS RS256: RFC 7518 §3.3; JWK: RFC 7517.
import t from 'tap'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { generateToken, hashToken } from '@kms-share/shared'
import { awsEnv, BUCKET, filePath, freePort, putObject, s3As, scratchDir, startDownload, startTestLab, eventually } from './helpers.js'

const READER = generateToken()
const CACHE_ADMIN = generateToken()
const AUTH = {
  AUTH_DISABLED: 'false',
  AUTH_TOKENS: `reader:download:${hashToken(READER)},janitor:cache:admin:${hashToken(CACHE_ADMIN)}`,
  SESSION_SECRET: 'download-auth-test-session-secret-012345',
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('download: 401 without credentials; download and cache:admin scopes enforced', async (t) => {
  const lab = await startTestLab(t)
  await putObject(s3As(lab, 'admin'), 'report.txt', 'quarterly report')
  const { url, app } = await startDownload(t, lab, 'downloader', AUTH)

  for (const [method, path] of [['GET', filePath('report.txt')], ['HEAD', filePath('report.txt')], ['GET', '/files'], ['GET', '/'], ['GET', '/cache'], ['DELETE', '/cache'], ['DELETE', '/cache/localfile-report.txt'], ['GET', '/docs/json']]) {
    const r = await fetch(url + path, { method })
    t.equal(r.status, 401, `${method} ${path}: 401`)
    t.match(r.headers.get('www-authenticate'), /^Bearer realm="kms-share"/)
  }
  t.equal(app.downloader.cache.list().length, 0, 'nothing was fetched for anonymous callers')
  t.equal((await fetch(`${url}/healthz`)).status, 200)
  t.equal((await fetch(`${url}/readyz`)).status, 200)
  const page = await fetch(`${url}/`, { headers: { accept: 'text/html' }, redirect: 'manual' })
  t.equal(page.status, 303, 'a browser is sent to sign in')
  t.equal(page.headers.get('location'), '/auth/login?next=%2F')

  const got = await fetch(url + filePath('report.txt'), { headers: bearer(READER) })
  t.equal(got.status, 200)
  t.equal(await got.text(), 'quarterly report')
  await eventually(() => app.downloader.cache.list().length === 1, 'the object cached')
  t.equal((await fetch(`${url}/`, { headers: bearer(READER) })).status, 200, 'the page with the download scope')
  const cacheAsReader = await fetch(`${url}/cache`, { headers: bearer(READER) })
  t.equal(cacheAsReader.status, 403)
  t.match(await cacheAsReader.json(), { code: 'SHR_MISSING_SCOPE', missingScopes: ['cache:admin'] })
  t.equal((await fetch(`${url}/cache`, { method: 'DELETE', headers: bearer(READER) })).status, 403)
  t.equal(app.downloader.cache.list().length, 1, 'the reader could not empty the cache')

  const objectAsJanitor = await fetch(url + filePath('report.txt'), { headers: bearer(CACHE_ADMIN) })
  t.equal(objectAsJanitor.status, 403, 'cache:admin alone reads no object')
  t.match(await objectAsJanitor.json(), { missingScopes: ['download'] })
  const listing: any = await (await fetch(`${url}/cache`, { headers: bearer(CACHE_ADMIN) })).json()
  t.same(listing.items.map((i: { key: string }) => i.key), ['report.txt'])
  t.match(await (await fetch(`${url}/cache`, { method: 'DELETE', headers: bearer(CACHE_ADMIN) })).json(), { removed: 1 })
})

t.test('download: emptying the cache through a cookie needs the same origin and the CSRF token', async (t) => {
  const lab = await startTestLab(t)
  await putObject(s3As(lab, 'admin'), 'cached.txt', 'cached body')
  const { url, app } = await startDownload(t, lab, 'downloader', AUTH)
  t.equal((await fetch(url + filePath('cached.txt'), { headers: bearer(READER) })).status, 200)
  // The entry is committed (fsync, rename) off the client's path: wait for it before trying to empty the cache.
  await eventually(() => app.downloader.cache.list().length === 1, 'the object cached')
  const session = await fetch(`${url}/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: CACHE_ADMIN }) })
  const { csrfToken } = await session.json() as { csrfToken: string }
  const cookie = session.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
  t.match(cookie, /kms_download_session=/)

  t.equal((await fetch(`${url}/cache`, { headers: { cookie } })).status, 200, 'reading through the cookie')
  const crossSite = await fetch(`${url}/cache`, { method: 'DELETE', headers: { cookie, 'origin': 'https://evil.example', 'x-csrf-token': csrfToken } })
  t.equal(crossSite.status, 403)
  t.match(await crossSite.json(), { code: 'SHR_CROSS_SITE' })
  const noToken = await fetch(`${url}/cache`, { method: 'DELETE', headers: { cookie } })
  t.equal(noToken.status, 403)
  t.match(await noToken.json(), { code: 'SHR_CSRF' })
  t.equal(app.downloader.cache.list().length, 1, 'still cached')
  const own = await fetch(`${url}/cache`, { method: 'DELETE', headers: { cookie, 'origin': url, 'sec-fetch-site': 'same-origin', 'x-csrf-token': csrfToken } })
  t.equal(own.status, 200)
  t.equal(app.downloader.cache.list().length, 0)
})

/** A test OIDC issuer: one RS256 key, its JWKS on a local port, JWTs signed with node:crypto. */
async function startIssuer(t: { teardown(fn: () => unknown): void }) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }
  const server = createServer((req, res) => {
    if (req.url === '/jwks.json') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
    else res.writeHead(404).end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const jwt = (claims: Record<string, unknown>, key: KeyObject = privateKey) => {
    const now = Math.floor(Date.now() / 1000)
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const input = `${part({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${part({ iss: url, aud: 'kms-share-download', sub: 'dana', iat: now, exp: now + 300, ...claims })}`
    return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`
  }
  return { url, jwt }
}

t.test('download: OIDC JWTs accepted from the issuer, refused when expired or for another audience', async (t) => {
  const lab = await startTestLab(t)
  await putObject(s3As(lab, 'admin'), 'oidc.txt', 'read with a JWT')
  const issuer = await startIssuer(t)
  const { url } = await startDownload(t, lab, 'downloader', {
    AUTH_DISABLED: 'false',
    OIDC_ISSUER: issuer.url,
    OIDC_AUDIENCE: 'kms-share-download',
    OIDC_JWKS_URL: `${issuer.url}/jwks.json`,
    OIDC_SCOPES_CLAIM: 'scp',
  })
  const read = (jwt: string) => fetch(url + filePath('oidc.txt'), { headers: bearer(jwt) })

  const ok = await read(issuer.jwt({ scp: ['download'] }))
  t.equal(ok.status, 200)
  t.equal(await ok.text(), 'read with a JWT')
  t.equal((await read(issuer.jwt({ scp: ['upload'] }))).status, 403, 'scopes from the configured claim')
  const expired = await read(issuer.jwt({ scp: ['download'], exp: Math.floor(Date.now() / 1000) - 120 }))
  t.equal(expired.status, 401)
  t.match(await expired.json(), { code: 'SHR_INVALID_CREDENTIALS', detail: /expired/ })
  const audience = await read(issuer.jwt({ scp: ['download'], aud: 'kms-share-upload' }))
  t.equal(audience.status, 401)
  t.match(await audience.json(), { detail: /audience/ })
  const forged = await read(issuer.jwt({ scp: ['download'] }, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey))
  t.equal(forged.status, 401, 'a JWT signed by another key')
})

t.test('download: server.ts refuses to listen beyond loopback without authentication', async (t) => {
  const lab = await startTestLab(t)
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { PATH: process.env.PATH ?? '', ...awsEnv(lab, 'downloader'), BUCKET, HOST: '0.0.0.0', PORT: String(port), CACHE_DIR: scratchDir(t), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let output = ''
  child.stdout.on('data', (c: Buffer) => { output += c.toString() })
  child.stderr.on('data', (c: Buffer) => { output += c.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  t.not(code, 0, 'it exits with an error')
  t.match(output, /refusing to listen on 0\.0\.0\.0 without authentication: set AUTH_TOKENS/)
  t.notMatch(output, /Server listening/, 'it never listened')
})
