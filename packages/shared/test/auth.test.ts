// Authentication through real HTTP: API tokens (hashes only), page sessions with their
// Origin/Sec-Fetch-Site and CSRF checks, OIDC JWTs from a test issuer whose JWKS this file
// serves on a local port, and AWS denial sentences withheld from unauthenticated callers.
// Bearer tokens: RFC 6750 (WWW-Authenticate, error="invalid_token"); JWT claims: RFC 7519 (exp, aud, iss).
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import cookie from '@fastify/cookie'
import { S3ServiceException } from '@aws-sdk/client-s3'
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose'
import { Type } from 'typebox'
import {
  assertAuthForListen, AuthErrors, authConfigProperties, authPlugin, basePlugin, catalogueCodes, formatTokenEntry, generateToken,
  hashToken, isLoopbackHost, loadConfig, tokenService, parseAuthTokens, requireScope, scopesFromClaim, serverOptions, SharedErrors, type AuthConfig,
} from '../src/index.js'

const ALICE = generateToken()
const BOB = generateToken()
const AUTH_TOKENS = [
  formatTokenEntry('alice', ['upload', 'cache:admin'], hashToken(ALICE)),
  formatTokenEntry('bob', ['download'], hashToken(BOB)),
].join(',')
const SESSION_SECRET = 'a-test-session-secret-of-forty-characters!'
const DENIAL = 'User: arn:aws:sts::111122223333:assumed-role/KMSWorkshop-Downloader/dl is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab because no identity-based policy allows the kms:Decrypt action'

const AuthSchema = Type.Object({ HOST: Type.String({ default: '127.0.0.1' }), ...authConfigProperties })

function authConfig(env: Record<string, string> = {}): AuthConfig {
  return loadConfig(AuthSchema, { env: { AUTH_TOKENS, SESSION_SECRET, ...env } })
}

interface TestApp {
  app: FastifyInstance
  url: string
  logs: string[]
  /** How many times each test route's handler ran. */
  calls: Record<string, number>
}

/** A small service like upload/download: health, an upload-scoped GET/POST, a download-scoped GET, an AWS denial. */
async function startApp(t: Tap, config: AuthConfig, serverOptions: FastifyServerOptions = {}): Promise<TestApp> {
  const logs: string[] = []
  const app = Fastify({ ...serverOptions, logger: { level: 'info', stream: { write: (line: string) => void logs.push(line) } } })
  const calls: Record<string, number> = {}
  const count = (name: string) => { calls[name] = (calls[name] ?? 0) + 1 }
  await app.register(basePlugin)
  await app.register(authPlugin, { config, scopes: ['upload', 'download', 'cache:admin'], service: 'test' })
  // Multipart bodies are taken as a stream and not parsed: enough to see whether a handler ran.
  app.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null))
  await app.register(async (scoped) => {
    scoped.addHook('onRequest', requireScope('upload'))
    scoped.get('/things', async (request) => { count('get'); return { principal: request.principal } })
    scoped.post('/things', async () => { count('post'); return { stored: true } })
    scoped.get('/denied', async () => {
      throw new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403, requestId: 'R1' }, message: DENIAL })
    })
  })
  await app.register(async (scoped) => {
    scoped.addHook('onRequest', requireScope('download'))
    scoped.get('/reads', async () => { count('reads'); return { ok: true } })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  return { app, url: `http://127.0.0.1:${port}`, logs, calls }
}

type Tap = { teardown(fn: () => unknown): void }

/** Cookies from a response's Set-Cookie headers, as a Cookie header. */
function cookieHeader(response: Response): string {
  return response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
}

async function signIn(url: string, token: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ token }) })
  return { response, body: await response.json() as any, cookie: cookieHeader(response) }
}

t.test('tokens: SHA-256 hex hashes, random url-safe kms_ tokens, AUTH_TOKENS entries', async (t) => {
  t.equal(hashToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'SHA-256 test vector (FIPS 180-2)')
  const a = generateToken()
  t.match(a, /^kms_[A-Za-z0-9_-]{43}$/)
  t.not(a, generateToken())
  const forUpload = generateToken('upload')
  t.match(forUpload, /^kms_upload_[A-Za-z0-9_-]{43}$/, 'a token names the service it is for')
  t.equal(tokenService(forUpload), 'upload')
  t.equal(tokenService(a), undefined, 'older tokens name none (43 characters after kms_, never a service and 43 more)')
  t.throws(() => generateToken('Upload!'))
  const entries = parseAuthTokens(` alice:upload+cache:admin:${hashToken('x')} ,\n bob:download:${hashToken('y')},`)
  t.same(entries, [
    { name: 'alice', scopes: ['upload', 'cache:admin'], hash: hashToken('x') },
    { name: 'bob', scopes: ['download'], hash: hashToken('y') },
  ])
  t.same(parseAuthTokens(undefined), [])
  t.throws(() => parseAuthTokens(`alice:upload:${a}`), /entry 1 is not name:scope1\+scope2:sha256hex/, 'a plaintext token instead of a hash')
  t.notMatch((() => { try { parseAuthTokens(`alice:upload:${a}`) } catch (err) { return (err as Error).message } return '' })(), a.slice(4), 'the error does not echo the token')
  t.throws(() => parseAuthTokens(`a:upload:${hashToken('x')},b:download:${hashToken('x')}`), /same hash/)
  t.throws(() => parseAuthTokens(`a:upload:${hashToken('x')},a:download:${hashToken('y')}`), /used twice/)
})

t.test('config: AUTH_TOKENS must hold hashes; SESSION_SECRET must be long; AUTH_DISABLED defaults to false', async (t) => {
  const config = authConfig()
  t.equal(config.AUTH_DISABLED, false)
  t.equal(config.OIDC_SCOPES_CLAIM, 'scope')
  t.equal(config.SESSION_TTL_SECONDS, 8 * 3600)
  t.throws(() => loadConfig(AuthSchema, { env: { AUTH_TOKENS: `alice:upload:${ALICE}` } }), /AUTH_TOKENS/)
  t.throws(() => loadConfig(AuthSchema, { env: { SESSION_SECRET: 'short' } }), /SESSION_SECRET/)
})

t.test('a service refuses to listen beyond loopback without authentication', async (t) => {
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]']) t.ok(isLoopbackHost(host), `${host} is loopback`)
  for (const host of ['0.0.0.0', '::', '10.0.0.5', 'example.com', undefined]) t.notOk(isLoopbackHost(host), `${host} is not loopback`)
  const none = loadConfig(AuthSchema, { env: { HOST: '0.0.0.0' } })
  t.throws(() => assertAuthForListen(none), /refusing to listen on 0\.0\.0\.0 without authentication: set AUTH_TOKENS/)
  t.throws(() => assertAuthForListen(authConfig({ HOST: '0.0.0.0', AUTH_DISABLED: 'true' })), /AUTH_DISABLED is for loopback/)
  t.doesNotThrow(() => assertAuthForListen(authConfig({ HOST: '0.0.0.0' })))
  t.doesNotThrow(() => assertAuthForListen(loadConfig(AuthSchema, { env: { HOST: '127.0.0.1', AUTH_DISABLED: 'true' } })))
  // The plugin itself refuses, so no entry point can skip the check.
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(authPlugin, { config: none, scopes: [] }); await app.ready() }, /refusing to listen/)
  const app2 = Fastify()
  t.teardown(() => app2.close())
  await t.rejects(async () => { await app2.register(authPlugin, { config: authConfig({ OIDC_ISSUER: 'https://issuer.example' }), scopes: [] }); await app2.ready() }, /OIDC_ISSUER needs OIDC_CLIENT_ID \(people sign in\) or OIDC_AUDIENCE/)
})

t.test('bearer tokens: 401 without credentials, scopes enforced, health open', async (t) => {
  const { url, calls, logs } = await startApp(t, authConfig())
  const anonymous = await fetch(`${url}/things`)
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  t.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="kms-share"')
  t.match(await anonymous.json(), { code: 'SHR_UNAUTHENTICATED', status: 401, detail: /Authorization: Bearer <token>.*\/auth\/login/ })
  t.equal((await fetch(`${url}/nope`)).status, 401, 'unknown routes too')
  t.equal((await fetch(`${url}/healthz`)).status, 200, '/healthz is open')
  t.equal((await fetch(`${url}/readyz`)).status, 200, '/readyz is open')

  const wrong = await fetch(`${url}/things`, { headers: { authorization: `Bearer ${generateToken()}` } })
  t.equal(wrong.status, 401)
  t.match(wrong.headers.get('www-authenticate'), /error="invalid_token"/)
  t.match(await wrong.json(), { code: 'SHR_INVALID_CREDENTIALS' })
  // Another service's token: the answer says whose it is (the sign-in page shows this sentence).
  const theirs = await fetch(`${url}/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: generateToken('upload') }) })
  t.equal(theirs.status, 401)
  t.match(await theirs.json(), { code: 'SHR_INVALID_CREDENTIALS', detail: /this token belongs to the upload service \(it starts kms_upload_\): use it there, or ask for a test token/ })
  const basic = await fetch(`${url}/things`, { headers: { authorization: 'Basic YWxpY2U6cHc=' } })
  t.equal(basic.status, 401)
  t.match(basic.headers.get('www-authenticate'), /error="invalid_request"/)

  const ok = await fetch(`${url}/things`, { headers: { authorization: `Bearer ${ALICE}` } })
  t.equal(ok.status, 200)
  t.same(await ok.json(), { principal: { name: 'alice', scopes: ['upload', 'cache:admin'], via: 'token' } })
  const forbidden = await fetch(`${url}/reads`, { headers: { authorization: `Bearer ${ALICE}` } })
  t.equal(forbidden.status, 403)
  t.match(await forbidden.json(), { code: 'SHR_MISSING_SCOPE', detail: 'This needs the scope download; alice holds upload, cache:admin', missingScopes: ['download'] })
  t.equal((await fetch(`${url}/reads`, { headers: { authorization: `Bearer ${BOB}` } })).status, 200)
  t.equal((await fetch(`${url}/things`, { method: 'POST', headers: { authorization: `Bearer ${BOB}` } })).status, 403, 'bob cannot write')
  t.same(calls, { get: 1, reads: 1 }, 'refused requests never reached a handler')
  t.notOk(logs.some((line) => line.includes(ALICE) || line.includes(BOB)), 'tokens never reach the log')
  t.ok(logs.some((line) => /"principal":"alice"/.test(line)), 'the log names the principal')

  // A browser navigating to a page is sent to the sign-in page instead of a bare 401.
  const page = await fetch(`${url}/things?x=1`, { headers: { accept: 'text/html,application/xhtml+xml' }, redirect: 'manual' })
  t.equal(page.status, 303)
  t.equal(page.headers.get('location'), '/auth/login?next=%2Fthings%3Fx%3D1')
  const login = await fetch(`${url}/auth/login`)
  t.equal(login.status, 200)
  t.match(login.headers.get('content-security-policy'), /script-src 'self'/)
  t.match(await login.text(), /<script src="\/auth\/login.js"/)
})

t.test('AUTH_DISABLED on loopback: every route open, with every scope', async (t) => {
  const { url } = await startApp(t, loadConfig(AuthSchema, { env: { AUTH_DISABLED: 'true' } }))
  const r = await fetch(`${url}/things`)
  t.equal(r.status, 200)
  t.same(await r.json(), { principal: { name: 'local', scopes: ['upload', 'download', 'cache:admin'], via: 'disabled' } })
  t.equal((await fetch(`${url}/reads`)).status, 200)
})

t.test('page sessions: sign in once, HttpOnly SameSite=Strict cookie, CSRF token and Origin checks', async (t) => {
  const { url, calls } = await startApp(t, authConfig())
  const refused = await signIn(url, generateToken())
  t.equal(refused.response.status, 401)
  t.equal(refused.cookie, '', 'no cookie for an unknown token')

  const { response, body, cookie: jar } = await signIn(url, ALICE)
  t.equal(response.status, 200)
  t.match(body, { name: 'alice', scopes: ['upload', 'cache:admin'], via: 'token', csrfToken: /\S{20,}/ })
  const setCookies = response.headers.getSetCookie()
  const session = setCookies.find((c) => c.startsWith('kms_test_session='))!
  t.match(session, /; HttpOnly/)
  t.match(session, /; SameSite=Strict/)
  t.notMatch(session, /; Secure/, 'not Secure over plain http')
  t.notMatch(session, new RegExp(ALICE.slice(4)), 'the cookie does not hold the token')
  t.ok(setCookies.some((c) => c.startsWith('kms_test_csrf=') && /HttpOnly/.test(c) && /SameSite=Strict/.test(c)), 'CSRF secret cookie')

  const get = await fetch(`${url}/things`, { headers: { cookie: jar } })
  t.same(await get.json(), { principal: { name: 'alice', scopes: ['upload', 'cache:admin'], via: 'session' } })
  t.same(await (await fetch(`${url}/auth/session`, { headers: { cookie: jar } })).json(), { name: 'alice', scopes: ['upload', 'cache:admin'], via: 'session' })

  const noToken = await fetch(`${url}/things`, { method: 'POST', headers: { cookie: jar } })
  t.equal(noToken.status, 403)
  t.match(await noToken.json(), { code: 'SHR_CSRF', detail: /GET \/auth\/csrf.*x-csrf-token/ })
  const badToken = await fetch(`${url}/things`, { method: 'POST', headers: { 'cookie': jar, 'x-csrf-token': body.csrfToken.replace(/.$/, (c: string) => (c === 'A' ? 'B' : 'A')) } })
  t.equal(badToken.status, 403)
  const sameOrigin = await fetch(`${url}/things`, { method: 'POST', headers: { 'cookie': jar, 'x-csrf-token': body.csrfToken, 'origin': url, 'sec-fetch-site': 'same-origin' } })
  t.equal(sameOrigin.status, 200, 'same-origin with the CSRF token passes')
  const fresh = await (await fetch(`${url}/auth/csrf`, { headers: { cookie: jar } })).json() as { token: string; header: string }
  t.equal(fresh.header, 'x-csrf-token')
  t.equal((await fetch(`${url}/things`, { method: 'POST', headers: { 'cookie': jar, 'x-csrf-token': fresh.token } })).status, 200, 'GET /auth/csrf gives a working token')

  // The attack of the issue: a page on another site posts a CORS-simple multipart form; the browser adds the cookie.
  const form = '--b\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\nContent-Type: text/plain\r\n\r\nevil\r\n--b--\r\n'
  const before = calls.post
  const crossSite = await fetch(`${url}/things?overwrite=true`, {
    method: 'POST',
    body: form,
    headers: { 'cookie': jar, 'content-type': 'multipart/form-data; boundary=b', 'origin': 'https://evil.example', 'sec-fetch-site': 'cross-site' },
  })
  t.equal(crossSite.status, 403)
  t.match(await crossSite.json(), { code: 'SHR_CROSS_SITE', detail: /Sec-Fetch-Site is cross-site/ })
  const foreignOrigin = await fetch(`${url}/things`, {
    method: 'POST', body: form, headers: { 'cookie': jar, 'content-type': 'multipart/form-data; boundary=b', 'origin': 'https://evil.example', 'x-csrf-token': body.csrfToken },
  })
  t.equal(foreignOrigin.status, 403, 'a foreign Origin is refused even with a valid CSRF token')
  t.match(await foreignOrigin.json(), { code: 'SHR_CROSS_SITE', detail: `Cross-site request refused: Origin https://evil.example is not ${url}` })
  t.equal(calls.post, before, 'the handler never ran for a cross-site post')

  // A CSRF token is bound to its user: bob's does not pass in alice's session.
  const bob = await signIn(url, BOB)
  t.equal((await fetch(`${url}/things`, { method: 'POST', headers: { 'cookie': jar, 'x-csrf-token': bob.body.csrfToken } })).status, 403)

  // Bearer requests are not cookie-borne: no CSRF token needed.
  t.equal((await fetch(`${url}/things`, { method: 'POST', headers: { authorization: `Bearer ${ALICE}` } })).status, 200)

  // Login CSRF: another site cannot sign the browser in.
  t.equal((await signIn(url, ALICE, { origin: 'https://evil.example' })).response.status, 403)

  const tampered = jar.replace(/kms_test_session=([^.;]+)/, (_m, v: string) => `kms_test_session=${Buffer.from(Buffer.from(v, 'base64url').toString().replace('alice', 'mallory')).toString('base64url')}`)
  t.equal((await fetch(`${url}/things`, { headers: { cookie: tampered } })).status, 401, 'a changed cookie is refused')

  // Sign-out is a state-changing request too: another origin cannot sign the person out.
  t.equal((await fetch(`${url}/auth/session`, { method: 'DELETE', headers: { 'cookie': jar, 'x-csrf-token': body.csrfToken, 'origin': 'https://evil.example' } })).status, 403)
  const out = await fetch(`${url}/auth/session`, { method: 'DELETE', headers: { 'cookie': jar, 'x-csrf-token': body.csrfToken, 'origin': url, 'sec-fetch-site': 'same-origin' } })
  t.equal(out.status, 204)
  t.ok(out.headers.getSetCookie().some((c) => /^kms_test_session=;/.test(c) && /Expires=Thu, 01 Jan 1970/.test(c)), 'sign-out clears the cookie')
})

// Issue 22 row 12: sign-out was client-side only (the cookie was cleared, the session it carried was not).
t.test('sign-out ends the session on the server: a copied session cookie stops working', async (t) => {
  const { url } = await startApp(t, authConfig())
  const { body, cookie: copied } = await signIn(url, ALICE)
  t.equal((await fetch(`${url}/things`, { headers: { cookie: copied } })).status, 200, 'the copy works while signed in')
  const out = await fetch(`${url}/auth/session`, { method: 'DELETE', headers: { 'cookie': copied, 'x-csrf-token': body.csrfToken, 'origin': url } })
  t.equal(out.status, 204)
  const after = await fetch(`${url}/things`, { headers: { cookie: copied } })
  t.equal(after.status, 401, 'the copied cookie no longer signs anyone in')
  t.match(await after.json(), { code: 'SHR_UNAUTHENTICATED' })
  t.equal((await fetch(`${url}/auth/session`, { headers: { cookie: copied } })).status, 401)
})

t.test('sessions live on the server: an expired one ends, a cookie it never issued is nobody', async (t) => {
  const first = await startApp(t, authConfig())
  const { cookie: jar } = await signIn(first.url, ALICE)
  t.equal((await fetch(`${first.url}/things`, { headers: { cookie: jar } })).status, 200)
  // Another process with the same secret holds no such session: page sessions end when the service restarts.
  const second = await startApp(t, authConfig())
  t.equal((await fetch(`${second.url}/things`, { headers: { cookie: jar } })).status, 401)
  // A correctly signed cookie naming a session that was never made.
  const forged = `kms_test_session=${encodeURIComponent(cookie.sign('a'.repeat(43), SESSION_SECRET))}`
  t.equal((await fetch(`${first.url}/things`, { headers: { cookie: forged } })).status, 401)
  // The session's time runs out: the same cookie stops working.
  t.equal(first.app.auth.sessions.expireWhere((s) => s.name === 'alice'), 1)
  t.equal((await fetch(`${first.url}/things`, { headers: { cookie: jar } })).status, 401)
  t.equal(first.app.auth.sessions.size, 0, 'the expired session is gone from the store')
  const other = await startApp(t, authConfig({ SESSION_SECRET: 'another-session-secret-of-forty-characters' }))
  t.equal((await fetch(`${other.url}/things`, { headers: { cookie: jar } })).status, 401, 'a cookie signed with another secret')
})

t.test('cookies are Secure when the request came over https (through a proxy named in TRUST_PROXY)', async (t) => {
  const config = authConfig({ TRUST_PROXY: '127.0.0.1' })
  const { url } = await startApp(t, config, { trustProxy: serverOptions({ LOG_LEVEL: 'silent', TRUST_PROXY: config.TRUST_PROXY }).trustProxy })
  const { response } = await signIn(url, ALICE, { 'x-forwarded-proto': 'https', 'origin': url.replace('http:', 'https:') })
  t.equal(response.status, 200)
  for (const c of response.headers.getSetCookie()) t.match(c, /; Secure/, c.split('=')[0])
  // Without TRUST_PROXY a client's own X-Forwarded-Proto counts for nothing.
  const direct = await startApp(t, authConfig())
  t.equal(serverOptions({ LOG_LEVEL: 'silent' }).trustProxy, undefined)
  const plain = await signIn(direct.url, ALICE, { 'x-forwarded-proto': 'https' })
  t.equal(plain.response.status, 200)
  for (const c of plain.response.headers.getSetCookie()) t.notMatch(c, /; Secure/)
})

interface Issuer {
  url: string
  sign(claims: JWTPayload, options?: { expiresIn?: string | number; audience?: string | null; issuer?: string; key?: 'other' }): Promise<string>
  jwksRequests: number
  server: Server
}

/** A test OIDC issuer: RS256 keys, its JWKS and discovery document served on a local port. */
async function startIssuer(t: Tap): Promise<Issuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const other = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' }
  const issuer: Issuer = { url: '', jwksRequests: 0, server: createServer(), sign: async () => '' }
  issuer.server.on('request', (req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: issuer.url, jwks_uri: `${issuer.url}/jwks.json` }))
    } else if (req.url === '/jwks.json') {
      issuer.jwksRequests++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
    } else res.writeHead(404).end()
  })
  issuer.server.listen(0, '127.0.0.1')
  await once(issuer.server, 'listening')
  t.teardown(() => new Promise<void>((r) => { issuer.server.closeAllConnections(); issuer.server.close(() => r()) }))
  issuer.url = `http://127.0.0.1:${(issuer.server.address() as { port: number }).port}`
  issuer.sign = async (claims, options = {}) => {
    let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).setIssuer(options.issuer ?? issuer.url).setSubject('carol@idp').setIssuedAt()
    if (options.audience !== null) jwt = jwt.setAudience(options.audience ?? 'kms-share')
    jwt = jwt.setExpirationTime(options.expiresIn ?? '5m')
    return jwt.sign(options.key === 'other' ? other.privateKey : privateKey)
  }
  return issuer
}

t.test('OIDC: JWTs from the issuer accepted; expired, wrong audience, wrong issuer, foreign key refused', async (t) => {
  const issuer = await startIssuer(t)
  const { url } = await startApp(t, authConfig({ OIDC_ISSUER: issuer.url, OIDC_AUDIENCE: 'kms-share', OIDC_JWKS_URL: `${issuer.url}/jwks.json` }))
  const bearer = (jwt: string) => ({ headers: { authorization: `Bearer ${jwt}` } })

  const good = await issuer.sign({ scope: 'upload openid' })
  const ok = await fetch(`${url}/things`, bearer(good))
  t.equal(ok.status, 200)
  t.same(await ok.json(), { principal: { name: 'carol@idp', scopes: ['upload', 'openid'], via: 'oidc' } })
  const noScope = await fetch(`${url}/reads`, bearer(good))
  t.equal(noScope.status, 403, 'scopes come from the claim')

  const expired = await fetch(`${url}/things`, bearer(await issuer.sign({ scope: 'upload' }, { expiresIn: Math.floor(Date.now() / 1000) - 120 })))
  t.equal(expired.status, 401)
  t.match(expired.headers.get('www-authenticate'), /error="invalid_token"/)
  t.match(await expired.json(), { code: 'SHR_INVALID_CREDENTIALS', detail: /expired/ })
  const audience = await fetch(`${url}/things`, bearer(await issuer.sign({ scope: 'upload' }, { audience: 'another-app' })))
  t.equal(audience.status, 401)
  t.match(await audience.json(), { detail: /audience/ })
  const wrongIssuer = await fetch(`${url}/things`, bearer(await issuer.sign({ scope: 'upload' }, { issuer: 'https://elsewhere.example' })))
  t.equal(wrongIssuer.status, 401)
  t.match(await wrongIssuer.json(), { detail: /iss/ })
  const foreignKey = await fetch(`${url}/things`, bearer(await issuer.sign({ scope: 'upload' }, { key: 'other' })))
  t.equal(foreignKey.status, 401)
  t.match(await foreignKey.json(), { detail: /signature/ })
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: issuer.url, aud: 'kms-share', sub: 'x', exp: 9e9, scope: 'upload' })).toString('base64url')}.`
  t.equal((await fetch(`${url}/things`, bearer(unsigned))).status, 401, 'alg "none" is refused')
  // Cognito access tokens have no aud but the app client's id in client_id.
  t.equal((await fetch(`${url}/things`, bearer(await issuer.sign({ scope: 'upload', client_id: 'kms-share' }, { audience: null })))).status, 200)
  t.equal((await fetch(`${url}/things`, bearer(await issuer.sign({ scope: 'upload', client_id: 'other' }, { audience: null })))).status, 401)
  t.ok(issuer.jwksRequests >= 1 && issuer.jwksRequests <= 2, `the JWKS is cached (${issuer.jwksRequests} fetches)`)

  // A page signs in with a JWT once; the session lasts no longer than the JWT.
  const session = await signIn(url, good)
  t.equal(session.response.status, 200)
  t.equal(session.body.via, 'oidc')
  t.ok(Date.parse(session.body.expiresAt) <= Date.now() + 5 * 60_000 + 1000, 'the session ends with the JWT')
  t.same(await (await fetch(`${url}/things`, { headers: { cookie: session.cookie } })).json(), { principal: { name: 'carol@idp', scopes: ['upload', 'openid'], via: 'session' } })
})

t.test("OIDC: a resource server's prefixed scopes (Cognito client credentials) count without the prefix, others not at all", async (t) => {
  // https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-define-resource-servers.html (scopes are <identifier>/<name>)
  const issuer = await startIssuer(t)
  const { url } = await startApp(t, authConfig({ OIDC_ISSUER: issuer.url, OIDC_AUDIENCE: 'scripts-client', OIDC_JWKS_URL: `${issuer.url}/jwks.json`, OIDC_SCOPE_PREFIX: 'kms-share/' }))
  const bearer = (jwt: string) => ({ headers: { authorization: `Bearer ${jwt}` } })
  // Cognito's client-credentials access tokens: no aud, the client's id in client_id.
  const token = await issuer.sign({ scope: 'kms-share/upload other/download openid', client_id: 'scripts-client' }, { audience: null })
  const ok = await fetch(`${url}/things`, bearer(token))
  t.equal(ok.status, 200)
  t.same(await ok.json(), { principal: { name: 'carol@idp', scopes: ['upload'], via: 'oidc' } }, 'only kms-share/… scopes, without the prefix')
  t.equal((await fetch(`${url}/reads`, bearer(token))).status, 403, "another resource server's download is not download")
  const bare = await issuer.sign({ scope: 'upload', client_id: 'scripts-client' }, { audience: null })
  t.equal((await fetch(`${url}/things`, bearer(bare))).status, 403, 'an unprefixed scope does not count once a prefix is set')
})

t.test('OIDC: JWKS found through discovery, scopes from an array claim; an unreachable issuer is a 503', async (t) => {
  const issuer = await startIssuer(t)
  const { url } = await startApp(t, authConfig({ OIDC_ISSUER: issuer.url, OIDC_AUDIENCE: 'kms-share', OIDC_SCOPES_CLAIM: 'realm_access.roles' }))
  const jwt = await issuer.sign({ realm_access: { roles: ['download'] } })
  const r = await fetch(`${url}/reads`, { headers: { authorization: `Bearer ${jwt}` } })
  t.equal(r.status, 200)
  t.same(scopesFromClaim({ scp: ['a', 'b', 3] }, 'scp'), ['a', 'b'])

  const gone = await startIssuer(t)
  const down = await startApp(t, authConfig({ OIDC_ISSUER: gone.url, OIDC_AUDIENCE: 'kms-share', OIDC_JWKS_URL: `${gone.url}/jwks.json` }))
  const token = await gone.sign({ scope: 'upload' })
  await new Promise<void>((r) => { gone.server.closeAllConnections(); gone.server.close(() => r()) })
  const unavailable = await fetch(`${down.url}/things`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(unavailable.status, 503)
  t.match(await unavailable.json(), { code: 'SHR_OIDC_UNAVAILABLE' })
})

t.test('AWS denial sentences go to authenticated callers and the log, not to anonymous ones', async (t) => {
  // Without the auth plugin nobody is identified: the sentence (role session, key ARN) is withheld.
  const logs: string[] = []
  const open = Fastify({ logger: { level: 'info', stream: { write: (line: string) => void logs.push(line) } } })
  await open.register(basePlugin)
  open.get('/denied', async () => {
    throw new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403, requestId: 'R1' }, message: DENIAL })
  })
  open.get('/disabled-key', async () => {
    throw new S3ServiceException({ name: 'KMS.DisabledException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab is disabled.' })
  })
  open.get('/no-bucket', async () => {
    throw new S3ServiceException({ name: 'NoSuchBucket', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'The specified bucket does not exist' })
  })
  await open.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => open.close())
  const openUrl = `http://127.0.0.1:${(open.server.address() as { port: number }).port}`
  const disabled = await (await fetch(`${openUrl}/disabled-key`)).json() as Record<string, unknown>
  t.match(disabled, { code: 'SHR_AWS_KMS_KEY_UNAVAILABLE', awsErrorCode: 'KMS.DisabledException' })
  t.notMatch(String(disabled.detail), /arn:aws/, 'no key ARN for an anonymous caller')
  t.match(await (await fetch(`${openUrl}/no-bucket`)).json(), { code: 'SHR_AWS_NO_SUCH_BUCKET', detail: 'The configured bucket does not exist' }, 'details without ARNs stay')
  const anonymous = await fetch(`${openUrl}/denied`)
  t.equal(anonymous.status, 403)
  const body = await anonymous.json() as Record<string, unknown>
  t.match(body, { code: 'SHR_AWS_ACCESS_DENIED', awsErrorCode: 'AccessDenied', action: 'kms:Decrypt' })
  t.notMatch(JSON.stringify(body), /assumed-role|arn:aws|KMSWorkshop/, 'no role, session or key ARN')
  t.notOk('resource' in body || 'awsRequestId' in body || 'policyType' in body)
  t.ok(logs.some((line) => line.includes('assumed-role/KMSWorkshop-Downloader/dl')), 'the log has the sentence')

  const { url } = await startApp(t, authConfig())
  const known = await fetch(`${url}/denied`, { headers: { authorization: `Bearer ${ALICE}` } })
  t.match(await known.json(), { code: 'SHR_AWS_ACCESS_DENIED', detail: DENIAL, resource: /^arn:aws:kms:/, policyType: 'identity-based policy' })
})

t.test('auth codes are unique, SHR_-prefixed and documented in the README', async (t) => {
  const codes = catalogueCodes(AuthErrors)
  const all = [...codes, ...catalogueCodes(SharedErrors)]
  t.equal(new Set(all).size, all.length, 'unique among the SHR_ codes')
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  for (const code of codes) {
    t.match(code, /^SHR_[A-Z0-9_]+$/)
    t.ok(readme.includes(`| \`${code}\` |`), `${code} documented`)
  }
})
