// The services as OpenID Connect relying parties, against a provider this file serves on a local
// port so that it can answer what a real one never would: ID tokens with alg "none", HS256 keyed
// with the provider's public key, another iss or aud, expired or not yet valid; replayed codes;
// logout tokens forged or replayed. Each must be refused, with no session made.
// OpenID Connect Core 1.0 §3.1.3.7 (ID token validation), RFC 7636 (PKCE), RFC 8725 §2.1/§3.1 (alg
// confusion), Back-Channel Logout 1.0 §2.6, RFC 9470 (step-up), RFC 6749 §4.1.2 (codes used once).
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose'
import { Type } from 'typebox'
import { authConfigProperties, authPlugin, basePlugin, loadConfig, requireScope } from '../src/index.js'

const CLIENT_ID = 'upload'
const CLIENT_SECRET = 'the-client-secret-of-the-test-service'

type Mode = 'good' | 'none' | 'hs256-public-key' | 'wrong-iss' | 'wrong-aud' | 'expired' | 'not-yet-valid' | 'wrong-nonce' | 'other-key'

interface Provider {
  url: string
  mode: Mode
  groups: string[]
  amr: string[]
  authTime?: number
  expiresIn: number
  tokenCalls: number
  refreshCalls: number
  refreshRefused: boolean
  lastAuthorize?: URLSearchParams
  logoutToken(claims: JWTPayload, options?: { key?: 'other' }): Promise<string>
}

async function body(req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) text += (chunk as Buffer).toString()
  return text
}

/** A provider on a local port: discovery, JWKS, authorize (signs in at once), token (codes once, PKCE checked), end-session. */
async function startProvider(t: Tap): Promise<Provider> {
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const other = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  const codes = new Map<string, { nonce: string; challenge: string; used: boolean }>()
  const provider: Provider = {
    url: '', mode: 'good', groups: ['uploaders'], amr: ['pwd', 'otp', 'mfa'], expiresIn: 600, tokenCalls: 0, refreshCalls: 0, refreshRefused: false,
    logoutToken: async () => '',
  }
  const idToken = async (nonce: string) => {
    const now = Math.floor(Date.now() / 1000)
    const claims: JWTPayload = {
      sub: 'uma', preferred_username: 'uploader', groups: provider.groups, amr: provider.amr, auth_time: provider.authTime ?? now, sid: 'sid-1',
      nonce: provider.mode === 'wrong-nonce' ? 'another-nonce' : nonce,
    }
    const header = { alg: 'RS256', kid: 'k1' }
    const jwt = new SignJWT(claims).setIssuedAt(provider.mode === 'not-yet-valid' ? now + 3600 : now)
      .setIssuer(provider.mode === 'wrong-iss' ? 'https://elsewhere.example' : provider.url)
      .setAudience(provider.mode === 'wrong-aud' ? 'download' : CLIENT_ID)
      .setExpirationTime(provider.mode === 'expired' ? now - 3600 : now + 600)
    if (provider.mode === 'not-yet-valid') jwt.setNotBefore(now + 3600)
    if (provider.mode === 'none') {
      const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
      return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, iss: provider.url, aud: CLIENT_ID, iat: now, exp: now + 600 })}.`
    }
    // The confusion attack: the public key's PEM as an HMAC secret, for a verifier that trusts the header's alg.
    if (provider.mode === 'hs256-public-key') return jwt.setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(Buffer.from(await exportSPKI(publicKey)))
    return jwt.setProtectedHeader(header).sign(provider.mode === 'other-key' ? other.privateKey : privateKey)
  }
  provider.logoutToken = async (claims, options = {}) => new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, jti: randomBytes(8).toString('hex'), ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'logout+jwt' }).setIssuer(provider.url).setAudience(CLIENT_ID).setIssuedAt().setExpirationTime('2m')
    .sign(options.key === 'other' ? other.privateKey : privateKey)

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', provider.url)
    const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(value))
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: provider.url, authorization_endpoint: `${provider.url}/authorize`, token_endpoint: `${provider.url}/token`, jwks_uri: `${provider.url}/jwks`,
        end_session_endpoint: `${provider.url}/end`, response_types_supported: ['code'], subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'], code_challenge_methods_supported: ['S256'],
      })
    }
    if (url.pathname === '/jwks') return json(200, { keys: [jwk] })
    if (url.pathname === '/authorize') {
      provider.lastAuthorize = url.searchParams
      const code = randomBytes(16).toString('hex')
      codes.set(code, { nonce: url.searchParams.get('nonce') ?? '', challenge: url.searchParams.get('code_challenge') ?? '', used: false })
      const back = new URL(url.searchParams.get('redirect_uri')!)
      back.searchParams.set('code', code)
      back.searchParams.set('state', url.searchParams.get('state') ?? '')
      return res.writeHead(302, { location: back.href }).end()
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      void body(req).then(async (text) => {
        const form = new URLSearchParams(text)
        // client_secret_basic: form-urlencoded id and secret, base64 (RFC 6749 §2.3.1).
        const [id, secret] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':').map((v) => decodeURIComponent(v.replace(/\+/g, ' ')))
        if (id !== CLIENT_ID || secret !== CLIENT_SECRET) return json(401, { error: 'invalid_client' })
        if (form.get('grant_type') === 'refresh_token') {
          provider.refreshCalls++
          if (provider.refreshRefused) return json(400, { error: 'invalid_grant' })
          return json(200, { access_token: randomBytes(8).toString('hex'), token_type: 'Bearer', expires_in: provider.expiresIn, refresh_token: 'r2', id_token: await idToken('') })
        }
        provider.tokenCalls++
        const code = codes.get(form.get('code') ?? '')
        if (!code || code.used) return json(400, { error: 'invalid_grant' })
        code.used = true
        if (createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url') !== code.challenge) return json(400, { error: 'invalid_grant', error_description: 'PKCE' })
        return json(200, { access_token: randomBytes(8).toString('hex'), token_type: 'Bearer', expires_in: provider.expiresIn, refresh_token: 'r1', id_token: await idToken(code.nonce) })
      })
      return
    }
    res.writeHead(404).end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  provider.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return provider
}

type Tap = { teardown(fn: () => unknown): void; testdir(): string }

const Schema = Type.Object({ HOST: Type.String({ default: '127.0.0.1' }), ...authConfigProperties })

interface Service { app: FastifyInstance; url: string; logs: string[] }

/** A service like upload: a page and an API needing `upload`, a sensitive route needing step-up. */
async function startService(t: Tap, provider: Provider, env: Record<string, string> = {}): Promise<Service> {
  const secretFile = join(t.testdir(), 'client-secret')
  writeFileSync(secretFile, `${CLIENT_SECRET}\n`, { mode: 0o600 })
  const config = loadConfig(Schema, { env: { OIDC_ISSUER: provider.url, OIDC_CLIENT_ID: CLIENT_ID, OIDC_CLIENT_SECRET_FILE: secretFile, SESSION_SECRET: 'a-test-session-secret-of-forty-characters!', ...env } })
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => void logs.push(line) } } })
  await app.register(basePlugin)
  await app.register(authPlugin, { config, scopes: ['upload', 'keys:admin'], service: 'test' })
  await app.register(async (scoped) => {
    scoped.addHook('onRequest', requireScope('upload'))
    scoped.get('/things', async (request) => ({ principal: request.principal }))
    scoped.get('/page', async (_request, reply) => reply.type('text/html').send('<p>the page</p>'))
    scoped.post('/policy', async (request) => {
      app.auth.assertStepUp(request, 'kms:PutKeyPolicy')
      return { applied: true }
    })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  return { app, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, logs }
}

function cookies(response: Response): string[] {
  return response.headers.getSetCookie()
}

function jar(...responses: Response[]): string {
  const all = new Map<string, string>()
  for (const r of responses) for (const c of cookies(r)) { const [pair] = c.split(';'); const eq = pair.indexOf('='); all.set(pair.slice(0, eq), pair.slice(eq + 1)) }
  return [...all].filter(([, v]) => v !== '').map(([k, v]) => `${k}=${v}`).join('; ')
}

/** To the provider and back: the callback URL the browser would be sent to, and the cookies it holds then. */
async function toCallback(service: Service, next = '/page') {
  const login = await fetch(`${service.url}/auth/login?next=${encodeURIComponent(next)}`, { redirect: 'manual' })
  if (login.status !== 303) throw new Error(`login answered ${login.status}`)
  const atProvider = await fetch(login.headers.get('location')!, { redirect: 'manual' })
  return { login, callback: atProvider.headers.get('location')!, cookie: jar(login), authorizeUrl: new URL(login.headers.get('location')!) }
}

/** Signed in: the cookies the browser then holds (the session's, and the CSRF secret a page gets from GET /auth/csrf) and the CSRF token. */
async function signIn(service: Service, next = '/page') {
  const { callback, cookie, login, authorizeUrl } = await toCallback(service, next)
  const back = await fetch(callback, { headers: { cookie }, redirect: 'manual' })
  const html = await back.text()
  const session = jar(login, back)
  const csrf = await fetch(`${service.url}/auth/csrf`, { headers: { cookie: session } })
  const token = csrf.ok ? (await csrf.json() as { token: string }).token : ''
  return { back, html, cookie: jar(login, back, csrf), csrfToken: token, callback, transactionCookie: cookie, authorizeUrl }
}

t.test('a sign-in: code flow with PKCE, state and nonce; groups become scopes; the person goes back where they were', async (t) => {
  const provider = await startProvider(t)
  const service = await startService(t, provider)
  const anonymous = await fetch(`${service.url}/page?x=1`, { headers: { accept: 'text/html' }, redirect: 'manual' })
  t.equal(anonymous.status, 303)
  t.equal(anonymous.headers.get('location'), '/auth/login?next=%2Fpage%3Fx%3D1')

  const { login, authorizeUrl } = await toCallback(service, '/page?x=1')
  t.equal(authorizeUrl.origin + authorizeUrl.pathname, `${provider.url}/authorize`)
  t.match(Object.fromEntries(authorizeUrl.searchParams), { response_type: 'code', client_id: CLIENT_ID, scope: 'openid profile', code_challenge_method: 'S256', redirect_uri: `${service.url}/auth/callback` })
  for (const p of ['state', 'nonce', 'code_challenge']) t.match(authorizeUrl.searchParams.get(p), /^[A-Za-z0-9_-]{43,}$/, `${p}: 256 random bits`)
  const transaction = cookies(login).find((c) => c.startsWith('kms_test_signin='))!
  t.match(transaction, /Path=\/auth\//)
  t.match(transaction, /HttpOnly/)
  t.match(transaction, /SameSite=Lax/, 'Lax: the provider\'s redirect back is a cross-site navigation')

  const { back, html, cookie } = await signIn(service, '/page?x=1')
  t.equal(back.status, 200)
  t.match(html, '<meta http-equiv="refresh" content="0;url=/page?x=1">', 'on to the page, from a same-site navigation (the session cookie is Strict)')
  const session = cookies(back).find((c) => c.startsWith('kms_test_session='))!
  t.match(session, /HttpOnly/)
  t.match(session, /SameSite=Strict/)
  t.notMatch(session, /eyJ/, 'the cookie holds no token, only a session id')
  const me = await (await fetch(`${service.url}/things`, { headers: { cookie } })).json() as any
  t.same(me.principal, { name: 'uploader', scopes: ['upload'], via: 'session', person: { groups: ['uploaders'], amr: ['pwd', 'otp', 'mfa'], authTime: me.principal.person.authTime } })
  const info = await (await fetch(`${service.url}/auth/session`, { headers: { cookie } })).json() as any
  t.match(info, { name: 'uploader', via: 'session', groups: ['uploaders'], amr: ['pwd', 'otp', 'mfa'], authTime: /^\d{4}-/ })
  // Signed in already: /auth/login goes straight on.
  const again = await fetch(`${service.url}/auth/login?next=%2Fthings`, { headers: { cookie }, redirect: 'manual' })
  t.equal(again.headers.get('location'), '/things')
})

t.test('next is resolved against the service\'s own origin (issue 22 row 10)', async (t) => {
  const provider = await startProvider(t)
  const service = await startService(t, provider)
  for (const next of ['/\t/evil.example', '//evil.example', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '/%09/evil.example']) {
    const { html } = await signIn(service, next)
    const target = /content="0;url=([^"]*)"/.exec(html)?.[1] ?? ''
    t.equal(new URL(target.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n))), service.url).origin, service.url, `${JSON.stringify(next)} stays on the service (${target})`)
  }
})

t.test('refused: wrong state, replayed code, alg none, HS256 with the public key, wrong iss or aud, expired, not yet valid, wrong nonce, unknown key', async (t) => {
  const provider = await startProvider(t)
  const service = await startService(t, provider)
  const refused = async (response: Response, what: string, status = 401) => {
    const html = await response.text()
    t.equal(response.status, status, `${what}: ${status}`)
    t.notOk(cookies(response).some((c) => c.startsWith('kms_test_session=') && !c.startsWith('kms_test_session=;')), `${what}: no session cookie`)
    t.match(html, /Sign-in did not complete/, `${what}: a page saying so`)
    t.notMatch(html, /OAUTH_|JWT|at \w+ \(|Error:/, `${what}: no developer text`)
  }

  // Wrong state: the callback is not the one this browser started; the provider is not even asked.
  const { callback, cookie } = await toCallback(service)
  const forged = new URL(callback)
  forged.searchParams.set('state', 'an-attacker-state-value-of-the-right-length-000')
  const calls = provider.tokenCalls
  await refused(await fetch(forged, { headers: { cookie }, redirect: 'manual' }), 'wrong state', 400)
  t.equal(provider.tokenCalls, calls, 'no code exchange for a wrong state')
  await refused(await fetch(callback, { redirect: 'manual' }), 'no sign-in cookie at all', 400)

  // A replayed code: the same callback (and the cookie copied before it was used) a second time.
  const first = await toCallback(service)
  t.equal((await fetch(first.callback, { headers: { cookie: first.cookie }, redirect: 'manual' })).status, 200)
  await refused(await fetch(first.callback, { headers: { cookie: first.cookie }, redirect: 'manual' }), 'replayed code')

  for (const mode of ['none', 'hs256-public-key', 'wrong-iss', 'wrong-aud', 'expired', 'not-yet-valid', 'wrong-nonce', 'other-key'] as const) {
    provider.mode = mode
    const attempt = await toCallback(service)
    await refused(await fetch(attempt.callback, { headers: { cookie: attempt.cookie }, redirect: 'manual' }), `ID token: ${mode}`)
  }
  provider.mode = 'good'
  t.equal(service.app.auth.sessions.size, 1, 'only the one good sign-in made a session')
  t.ok(service.logs.some((l) => /sign-in refused/.test(l) && /alg|unexpected JWT/.test(l)), 'the log says why')
})

t.test('a person outside the group gets a page naming it; an API caller a problem naming it', async (t) => {
  const provider = await startProvider(t)
  provider.groups = ['downloaders']
  const service = await startService(t, provider)
  const { cookie } = await signIn(service)
  const page = await fetch(`${service.url}/page`, { headers: { cookie, accept: 'text/html' } })
  t.equal(page.status, 403)
  t.match(page.headers.get('content-type'), /^text\/html/)
  const html = await page.text()
  t.match(html, /<strong class="group">uploaders<\/strong>/, 'names the missing group')
  t.match(html, /You are in <strong>downloaders<\/strong>/)
  t.match(html, /action="\/auth\/logout"/, 'with a way to sign out and switch')
  const api = await fetch(`${service.url}/things`, { headers: { cookie } })
  t.equal(api.status, 403)
  t.match(await api.json(), { code: 'SHR_MISSING_SCOPE', missingScopes: ['upload'], missingGroups: ['uploaders'] })
})

t.test('tokens are refreshed before they expire; a refresh the provider refuses ends the session', async (t) => {
  const provider = await startProvider(t)
  provider.expiresIn = 30 // inside the 60 s margin: every request refreshes
  const service = await startService(t, provider)
  const { cookie } = await signIn(service)
  provider.groups = ['uploaders', 'auditors']
  const before = provider.refreshCalls
  const me = await (await fetch(`${service.url}/things`, { headers: { cookie } })).json() as any
  t.equal(provider.refreshCalls, before + 1, 'refreshed before expiry')
  t.same(me.principal.person.groups, ['uploaders', 'auditors'], 'groups follow the refreshed ID token')
  provider.refreshRefused = true
  const page = await fetch(`${service.url}/page`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' })
  t.equal(page.status, 303, 'revoked at the provider: back to sign-in')
  t.equal(page.headers.get('location'), '/auth/login?next=%2Fpage')
  t.equal((await fetch(`${service.url}/things`, { headers: { cookie } })).status, 401)
})

t.test('sign-out: refused from another origin; ends the session (every copy) and goes to the provider\'s end-session', async (t) => {
  const provider = await startProvider(t)
  const service = await startService(t, provider)
  const { cookie, csrfToken: token } = await signIn(service)
  const evil = await fetch(`${service.url}/auth/logout`, { method: 'POST', headers: { cookie, 'origin': 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${encodeURIComponent(token)}`, redirect: 'manual' })
  t.equal(evil.status, 403)
  t.match(await evil.json(), { code: 'SHR_CROSS_SITE' })
  t.equal((await fetch(`${service.url}/things`, { headers: { cookie } })).status, 200, 'still signed in')
  t.equal((await fetch(`${service.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: service.url } })).status, 403, 'no CSRF token: refused')

  const out = await fetch(`${service.url}/auth/logout`, { method: 'POST', headers: { cookie, 'origin': service.url, 'x-csrf-token': token, 'accept': 'application/json' } })
  t.equal(out.status, 200)
  const { location } = await out.json() as { location: string }
  const end = new URL(location)
  t.equal(end.origin + end.pathname, `${provider.url}/end`)
  t.equal(end.searchParams.get('post_logout_redirect_uri'), `${service.url}/auth/signed-out`)
  t.match(end.searchParams.get('id_token_hint'), /^eyJ/)
  t.equal((await fetch(`${service.url}/things`, { headers: { cookie } })).status, 401, 'the copied cookie is nobody now')
  // A form without script (the download page) posts natively and is sent on by 303.
  const second = await signIn(service)
  const form = await fetch(`${service.url}/auth/logout`, { method: 'POST', headers: { 'cookie': second.cookie, 'origin': service.url, 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${encodeURIComponent(second.csrfToken)}`, redirect: 'manual' })
  t.equal(form.status, 303)
  t.match(form.headers.get('location'), `${provider.url}/end?`)
})

t.test('back-channel logout: a valid logout token ends the sessions of that provider session; forged or replayed ones are refused', async (t) => {
  const provider = await startProvider(t)
  const service = await startService(t, provider)
  const { cookie } = await signIn(service)
  const post = (token: string) => fetch(`${service.url}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${encodeURIComponent(token)}` })
  const wrongKey = await post(await provider.logoutToken({ sid: 'sid-1' }, { key: 'other' }))
  t.equal(wrongKey.status, 400)
  t.match(await wrongKey.json(), { code: 'SHR_BAD_LOGOUT_TOKEN' })
  t.equal((await post(await provider.logoutToken({ sid: 'sid-1', nonce: 'n' }))).status, 400, 'a logout token never carries a nonce')
  t.equal((await post(await provider.logoutToken({ sid: 'sid-1', events: {} }))).status, 400, 'not a logout event')
  t.equal((await fetch(`${service.url}/things`, { headers: { cookie } })).status, 200, 'still signed in')
  const other = await post(await provider.logoutToken({ sid: 'another-session' }))
  t.equal(other.status, 200)
  t.equal((await fetch(`${service.url}/things`, { headers: { cookie } })).status, 200, 'another provider session: untouched')
  const token = await provider.logoutToken({ sid: 'sid-1', sub: 'uma' })
  t.equal((await post(token)).status, 200)
  t.equal((await fetch(`${service.url}/things`, { headers: { cookie } })).status, 401, 'signed out by the provider')
  t.equal((await post(token)).status, 400, 'a logout token counts once (jti)')
})

t.test('step-up (RFC 9470): no mfa or an old sign-in gets 401 insufficient_user_authentication; the sign-in route asks again with max_age', async (t) => {
  const provider = await startProvider(t)
  provider.amr = ['pwd']
  const service = await startService(t, provider, { OIDC_STEP_UP_MAX_AGE_SECONDS: '300', OIDC_STEP_UP_ACR_VALUES: 'urn:kms-share:acr:mfa' })
  const post = ({ cookie, csrfToken }: { cookie: string; csrfToken: string }) =>
    fetch(`${service.url}/policy`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrfToken, 'origin': service.url } })
  const weak = await post(await signIn(service))
  t.equal(weak.status, 401)
  t.equal(weak.headers.get('www-authenticate'), 'Bearer realm="kms-share", error="insufficient_user_authentication", error_description="kms:PutKeyPolicy needs a recent sign-in with MFA", max_age="300", acr_values="urn:kms-share:acr:mfa"')
  t.match(await weak.json(), { code: 'SHR_STEP_UP_REQUIRED', action: 'kms:PutKeyPolicy', detail: /amr has no mfa/ })

  provider.amr = ['pwd', 'otp', 'mfa']
  provider.authTime = Math.floor(Date.now() / 1000) - 3600
  const old = await post(await signIn(service))
  t.equal(old.status, 401)
  t.match(await old.json(), { detail: /sign-in is \d+ s old \(at most 300 s\)/ })

  provider.authTime = undefined
  const fresh = await signIn(service)
  const { cookie } = fresh
  const stepUp = await fetch(`${service.url}/auth/login?step_up=1&next=%2Fpage`, { headers: { cookie }, redirect: 'manual' })
  t.equal(stepUp.status, 303, 'a step-up goes to the provider even when signed in')
  const asked = new URL(stepUp.headers.get('location')!).searchParams
  t.equal(asked.get('max_age'), '0')
  t.equal(asked.get('acr_values'), 'urn:kms-share:acr:mfa')
  t.equal((await post(fresh)).status, 200, 'a fresh sign-in with mfa passes')
})

t.test('discovery that fails is a page saying so, and is tried again next time', async (t) => {
  const provider = await startProvider(t)
  const service = await startService(t, provider, { OIDC_ISSUER: 'http://127.0.0.1:9' })
  const down = await fetch(`${service.url}/auth/login`, { headers: { accept: 'text/html' }, redirect: 'manual' })
  t.equal(down.status, 503)
  t.match(await down.text(), /does not answer right now/)
})
