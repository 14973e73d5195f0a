// The lab's OpenID Provider, driven by openid-client (a certified relying party) over the lab's
// TLS: discovery, authorization code with PKCE (required), TOTP giving amr "mfa", refresh tokens,
// a replayed code refused, client credentials as JWTs for the API, RP-initiated logout delivering
// back-channel logout tokens, its files private, and sign-ins that survive a restart.
// OpenID Connect Core 1.0 (https://openid.net/specs/openid-connect-core-1_0.html), RFC 7636 (PKCE),
// OpenID Connect Back-Channel Logout 1.0, RP-Initiated Logout 1.0, RFC 8176 (amr values).
import t from 'tap'
import { once } from 'node:events'
import { readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import * as client from 'openid-client'
import { createRemoteJWKSet, customFetch as joseFetch, decodeJwt, jwtVerify } from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'
import { URI } from 'otpauth'
import { ACR_MFA, ACR_PASSWORD, LAB_API_RESOURCE } from '../src/index.js'
import { labPeople, TestBrowser } from '../src/testing.js'
import { startTestLab } from './helpers/lab.js'

// The relying party's own endpoints: the redirect URI and where back-channel logout tokens arrive.
const logoutTokens: string[] = []
const rp = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/backchannel') {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => { logoutTokens.push(new URLSearchParams(body).get('logout_token') ?? ''); res.writeHead(200).end() })
    return
  }
  res.writeHead(200, { 'content-type': 'text/plain' }).end('rp')
})
rp.listen(0, '127.0.0.1')
await once(rp, 'listening')
t.teardown(() => new Promise<void>((r) => { rp.closeAllConnections(); rp.close(() => r()) }))
const rpUrl = `http://127.0.0.1:${(rp.address() as { port: number }).port}`

const dataDir = t.testdir()
const clients = [
  { client_id: 'web', client_name: 'the test service', redirect_uris: [`${rpUrl}/cb`], post_logout_redirect_uris: [`${rpUrl}/signed-out`], backchannel_logout_uri: `${rpUrl}/backchannel` },
  { client_id: 'script', grant_types: ['client_credentials'], scope: 'upload download' },
]
let lab = await startTestLab(t, { dataDir, tls: true, oidc: { clients } })
const ca = readFileSync(lab.caFile!)
const agent = new Agent({ connect: { ca } })
t.teardown(() => agent.close())
const trusted = ((url: string, options: RequestInit) => undiciFetch(url, { ...options, dispatcher: agent })) as unknown as client.CustomFetch
const people = labPeople(lab)

async function rpConfig(clientId = 'web') {
  return client.discovery(new URL(lab.oidc!.issuer), clientId, lab.oidc!.clientSecret(clientId), undefined, { [client.customFetch]: trusted })
}

/** A sign-in as `username` through the browser; answers the tokens the RP gets for the code. */
async function signIn(browser: TestBrowser, config: client.Configuration, username: string, extra: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: `${rpUrl}/cb`, scope: 'openid profile', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  })
  const landed = await browser.signIn(url.href, people[username])
  t.equal(new URL(landed.url).origin + new URL(landed.url).pathname, `${rpUrl}/cb`, `${username} lands on the redirect URI`)
  const tokens = await client.authorizationCodeGrant(config, new URL(landed.url), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce })
  return { tokens, callback: landed.url, verifier, state, nonce }
}

t.test('discovery, keys and the files the provider keeps', async (t) => {
  const config = await rpConfig()
  const meta = config.serverMetadata()
  t.equal(meta.issuer, `${lab.endpoint}/oidc`)
  t.same(meta.code_challenge_methods_supported, ['S256'])
  t.match(meta.end_session_endpoint, /\/oidc\/session\/end$/)
  t.equal(meta.backchannel_logout_supported, true)
  t.ok(meta.grant_types_supported?.includes('client_credentials'))
  t.ok(meta.acr_values_supported?.includes(ACR_MFA))
  const jwks = await (await undiciFetch(meta.jwks_uri!, { dispatcher: agent })).json() as { keys: Array<Record<string, unknown>> }
  t.equal(jwks.keys.length, 1)
  t.match(jwks.keys[0], { kty: 'RSA', alg: 'RS256', use: 'sig' })
  t.notOk('d' in jwks.keys[0], 'the JWKS endpoint serves the public key only')
  for (const file of ['oidc/keys.json', 'oidc/people.json']) t.equal(statSync(join(dataDir, file)).mode & 0o777, 0o600, `${file} is the lab's alone`)
  t.equal(statSync(join(dataDir, 'oidc')).mode & 0o777, 0o700)
  // Over plain http the provider sends the browser to https.
  const plain = await fetch(`${lab.httpEndpoint}/oidc/.well-known/openid-configuration`, { redirect: 'manual' })
  t.equal(plain.status, 308)
  t.equal(plain.headers.get('location'), `${lab.endpoint}/oidc/.well-known/openid-configuration`)
})

t.test('the people: groups, and userA\'s TOTP device is the lab\'s virtual MFA device', async (t) => {
  t.same(Object.keys(people).sort(), ['admin', 'auditor', 'downloader', 'keyadmin', 'uploader', 'userA'])
  t.same(people.uploader.groups, ['uploaders'])
  t.notOk(people.downloader.totpSecret, 'the downloader has no device')
  const iamUri = URI.parse(readFileSync(join(lab.mfaDir, 'userA.otpauth'), 'utf8').trim())
  t.equal(people.userA.totpSecret, iamUri.secret.base32, 'the same seed as the IAM device')
})

t.test('code flow with PKCE: password and TOTP give amr mfa; a replayed code is refused; refresh works', async (t) => {
  const config = await rpConfig()
  const browser = new TestBrowser(lab.caFile)
  t.teardown(() => browser.close())
  const { tokens, callback, verifier, state, nonce } = await signIn(browser, config, 'uploader')
  const claims = tokens.claims()!
  t.match(claims, { sub: 'uploader', groups: ['uploaders'], name: 'Uma Uploader', acr: ACR_MFA, aud: 'web' })
  t.same(claims.amr, ['pwd', 'otp', 'mfa'])
  t.ok(typeof claims.auth_time === 'number' && Math.abs(claims.auth_time - Date.now() / 1000) < 60, 'auth_time is now')
  t.ok(typeof claims.sid === 'string', 'a session id for back-channel logout')
  t.ok(tokens.refresh_token, 'a refresh token')
  t.ok(tokens.expiresIn()! > 0 && tokens.expiresIn()! <= 600)

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!)
  t.ok(refreshed.access_token && refreshed.access_token !== tokens.access_token)
  t.match(refreshed.claims(), { sub: 'uploader', groups: ['uploaders'], amr: ['pwd', 'otp', 'mfa'] })

  await t.rejects(client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }),
    { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' }, 'a code works once')
  // RFC 6749 §4.1.2: a replayed code revokes what was issued for it.
  await t.rejects(client.refreshTokenGrant(config, refreshed.refresh_token ?? tokens.refresh_token!), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' }, 'the replay revoked the grant')

  // Signed in once: another authorization in the same browser needs no password.
  const again = await signIn(browser, config, 'uploader')
  t.equal(again.tokens.claims()!.sub, 'uploader')
})

t.test('a person without a device signs in with the password alone: amr pwd', async (t) => {
  const config = await rpConfig()
  const browser = new TestBrowser(lab.caFile)
  t.teardown(() => browser.close())
  const { tokens } = await signIn(browser, config, 'downloader')
  t.same(tokens.claims()!.amr, ['pwd'])
  t.equal(tokens.claims()!.acr, ACR_PASSWORD)
})

t.test('the sign-in page: labels, plain errors, PKCE required', async (t) => {
  const config = await rpConfig()
  const browser = new TestBrowser(lab.caFile)
  t.teardown(() => browser.close())
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: `${rpUrl}/cb`, scope: 'openid', state: 's', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  })
  const form = await browser.go(url.href)
  t.equal(form.status, 200)
  t.match(form.headers.get('content-security-policy'), /default-src 'none'/)
  t.match(form.text, /<label for="username">User name<\/label>/)
  t.match(form.text, /<label for="password">Password<\/label>/)
  t.match(form.text, /to continue to the test service/)
  const wrong = await browser.submit(form, '/login', { username: 'uploader', password: 'not-it' })
  t.equal(wrong.status, 401)
  t.match(wrong.text, /role="alert">The user name or password is not right\./)
  t.notMatch(wrong.text, /Error|stack|at \w+ \(/, 'no developer text')
  const code = await browser.submit(wrong, '/login', { username: 'uploader', password: people.uploader.password })
  t.match(code.text, /<label for="code">6-digit code<\/label>/)
  const bad = await browser.submit(code, '/totp', { code: '12345' })
  t.match(bad.text, /Enter the 6 digits your authenticator app shows\./)

  // Without a code challenge the provider refuses, in words a person can act on.
  const noPkce = client.buildAuthorizationUrl(config, { redirect_uri: `${rpUrl}/cb`, scope: 'openid', state: 's' })
  const refused = await browser.go(noPkce.href)
  t.notOk(refused.url.startsWith(`${rpUrl}/cb`) && new URL(refused.url).searchParams.has('code'), 'no code without PKCE')
  t.match(new URL(refused.url).searchParams.get('error') ?? refused.text, /invalid_request|asked for something/)
})

t.test('client credentials: a JWT for the kms-share API with the scopes asked for', async (t) => {
  const config = await rpConfig('script')
  const token = await client.clientCredentialsGrant(config, { scope: 'upload' })
  const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!), { [joseFetch]: trusted as never })
  const { payload } = await jwtVerify(token.access_token, jwks, { issuer: lab.oidc!.issuer, audience: LAB_API_RESOURCE })
  t.match(payload, { sub: 'script', client_id: 'script', scope: 'upload' })
  await t.rejects(client.clientCredentialsGrant(config, { scope: 'keys:admin' }), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_scope' }, 'no scope beyond the client\'s')
})

t.test('RP-initiated logout: back-channel logout tokens, the refresh token dies, the next sign-in asks again', async (t) => {
  const config = await rpConfig()
  const browser = new TestBrowser(lab.caFile)
  t.teardown(() => browser.close())
  const { tokens } = await signIn(browser, config, 'downloader')
  const sid = tokens.claims()!.sid
  logoutTokens.length = 0
  const end = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: `${rpUrl}/signed-out`, state: 'bye' })
  const confirm = await browser.go(end.href)
  t.match(confirm.text, /Signing you out/)
  t.match(confirm.headers.get('content-security-policy'), /script-src 'sha256-/, 'its one script allowed by hash')
  const done = await browser.submit(confirm, '/session/end/confirm')
  t.equal(done.url, `${rpUrl}/signed-out?state=bye`)
  t.equal(logoutTokens.length, 1, 'one logout token to the client of the session')
  const logout = decodeJwt(logoutTokens[0])
  t.match(logout, { iss: lab.oidc!.issuer, aud: 'web', sub: 'downloader', sid })
  t.ok(logout.events && 'http://schemas.openid.net/event/backchannel-logout' in (logout.events as Record<string, unknown>))
  t.notOk('nonce' in logout)
  await t.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' }, 'the refresh token ended with the session')
  const again = await browser.go(client.buildAuthorizationUrl(config, { redirect_uri: `${rpUrl}/cb`, scope: 'openid', state: 's', code_challenge: await client.calculatePKCECodeChallenge('x'.repeat(43)), code_challenge_method: 'S256' }).href)
  t.match(again.text, /name="password"/, 'signed out at the provider: the password is asked again')
})

t.test('a restart keeps the keys, the people and the sign-ins', async (t) => {
  const config = await rpConfig()
  const browser = new TestBrowser(lab.caFile)
  t.teardown(() => browser.close())
  await signIn(browser, config, 'auditor')
  t.equal(statSync(join(dataDir, 'state/oidc.json')).mode & 0o777, 0o600, 'sessions, grants and tokens are the lab\'s alone')
  const keysBefore = readFileSync(join(dataDir, 'oidc/keys.json'), 'utf8')
  await lab.close()
  lab = await startTestLab(t, { dataDir, tls: true, oidc: { clients } })
  t.equal(readFileSync(join(dataDir, 'oidc/keys.json'), 'utf8'), keysBefore)
  t.same(labPeople(lab).auditor, people.auditor)
  // The new lab listens on another port: the browser's cookie (host and path) still applies.
  const after = await signIn(browser, await rpConfig(), 'auditor')
  t.equal(after.tokens.claims()!.sub, 'auditor', 'signed in without a password: the session survived')
})
