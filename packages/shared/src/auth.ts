// Who may call a service: API tokens (stored as SHA-256 hashes, each with scopes), OIDC JWTs
// verified with `jose`, and a signed session cookie for the pages, with Origin/Sec-Fetch-Site
// and CSRF-token checks on every state-changing request a cookie authenticates.
import { createHash, randomBytes } from 'node:crypto'
import createError from '@fastify/error'
import cookie from '@fastify/cookie'
import csrfProtection from '@fastify/csrf-protection'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { Type, type Static, type TObject, type TProperties } from 'typebox'
import { LOGIN_PAGE_CSP, LOGIN_SCRIPT, renderLoginPage } from './auth-login-page.js'
import { EnvBoolean } from './config.js'
import { problemOf, problemResponses, sendProblem, SharedErrors, type Problem } from './errors.js'

/** Who made a request, and what they may do. `disabled`: AUTH_DISABLED on loopback, every scope. */
export interface Principal {
  name: string
  scopes: readonly string[]
  via: 'token' | 'oidc' | 'session' | 'disabled'
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth plugin on every authenticated request; unset on public routes. */
    principal?: Principal
  }
}

/** The auth part of the SHR_ catalogue (documented in the package README). */
export const AuthErrors = {
  UNAUTHENTICATED: createError('SHR_UNAUTHENTICATED', 'Authentication required: %s', 401),
  INVALID_CREDENTIALS: createError('SHR_INVALID_CREDENTIALS', 'The credentials were refused: %s', 401),
  MISSING_SCOPE: createError('SHR_MISSING_SCOPE', 'This needs the scope %s; %s', 403),
  CROSS_SITE: createError('SHR_CROSS_SITE', 'Cross-site request refused: %s', 403),
  CSRF: createError('SHR_CSRF', 'Missing or invalid CSRF token: %s', 403),
  OIDC_UNAVAILABLE: createError('SHR_OIDC_UNAVAILABLE', "The OIDC issuer's signing keys could not be fetched: %s", 503),
} as const

// name:scope1+scope2:sha256hex, entries separated by commas (scopes may contain ':', as cache:admin does).
const TOKEN_NAME = '[A-Za-z0-9._@-]{1,64}'
const SCOPE = '[A-Za-z0-9._*-]+(?::[A-Za-z0-9._*-]+)*'
const TOKEN_ENTRY = `${TOKEN_NAME}:${SCOPE}(?:\\+${SCOPE})*:[0-9a-f]{64}`
const AUTH_TOKENS_PATTERN = `^\\s*${TOKEN_ENTRY}\\s*(?:,\\s*${TOKEN_ENTRY}\\s*)*,?\\s*$`

/** Spread into a service's config schema next to serviceConfigProperties. */
export const authConfigProperties = {
  AUTH_TOKENS: Type.Optional(Type.String({
    pattern: AUTH_TOKENS_PATTERN,
    description: 'API tokens as name:scope1+scope2:sha256hex entries separated by commas — SHA-256 hashes (hex) only, never the tokens.',
  })),
  OIDC_ISSUER: Type.Optional(Type.String({ minLength: 1, description: "The OIDC issuer (the JWT's iss), e.g. https://cognito-idp.<region>.amazonaws.com/<pool id>." })),
  OIDC_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'The audience (aud) JWTs must carry; for Cognito access tokens (no aud) their client_id. Required with OIDC_ISSUER.' })),
  OIDC_JWKS_URL: Type.Optional(Type.String({ minLength: 1, description: "The issuer's JWKS; when unset, jwks_uri from <issuer>/.well-known/openid-configuration." })),
  OIDC_SCOPES_CLAIM: Type.String({ minLength: 1, default: 'scope', description: 'The claim holding scopes: a space-separated string or an array (e.g. scope, scp, cognito:groups, realm_access.roles).' }),
  SESSION_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Signs the session and CSRF cookies (32+ characters; several separated by commas rotate: the first signs). When unset, a random one per process: sessions end at restart.' })),
  SESSION_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 7 * 24 * 3600, default: 8 * 3600, description: 'How long a page session lasts.' }),
  TRUST_PROXY: Type.Optional(Type.String({ minLength: 1, description: "Proxies whose X-Forwarded-Proto/-Host/-For count (Fastify's trustProxy): true, or the proxies' addresses/CIDRs separated by commas. Behind a TLS-terminating proxy it makes cookies Secure and the Origin check see the public origin." })),
  AUTH_DISABLED: EnvBoolean(false, 'Serve every route without authentication (development only: refused unless HOST is a loopback address).'),
} satisfies TProperties

export type AuthConfig = Static<TObject<typeof authConfigProperties>> & { HOST?: string }

export interface TokenEntry {
  name: string
  scopes: string[]
  /** SHA-256 of the token, lowercase hex. */
  hash: string
}

/** SHA-256 of a token, lowercase hex: the only form in which tokens are configured or stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** A new API token: `kms_` and 256 random bits, base64url. */
export function generateToken(): string {
  return `kms_${randomBytes(32).toString('base64url')}`
}

/** One AUTH_TOKENS entry: `name:scope1+scope2:sha256hex`. */
export function formatTokenEntry(name: string, scopes: readonly string[], hash: string): string {
  return `${name}:${scopes.join('+')}:${hash}`
}

/** Parses AUTH_TOKENS; throws naming the bad entry (never echoing more than its name). */
export function parseAuthTokens(value: string | undefined): TokenEntry[] {
  if (!value) return []
  const entries: TokenEntry[] = []
  const entryPattern = new RegExp(`^${TOKEN_ENTRY}$`)
  for (const [index, raw] of value.split(',').entries()) {
    const text = raw.trim()
    if (!text) continue
    if (!entryPattern.test(text)) throw new Error(`AUTH_TOKENS entry ${index + 1} is not name:scope1+scope2:sha256hex`)
    const first = text.indexOf(':')
    const last = text.lastIndexOf(':')
    const entry = { name: text.slice(0, first), scopes: text.slice(first + 1, last).split('+'), hash: text.slice(last + 1) }
    if (entries.some((e) => e.hash === entry.hash)) throw new Error(`AUTH_TOKENS: token ${entry.name} has the same hash as another entry`)
    if (entries.some((e) => e.name === entry.name)) throw new Error(`AUTH_TOKENS: the name ${entry.name} is used twice`)
    entries.push(entry)
  }
  return entries
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h)
}

/** Whether any way to authenticate is configured (tokens or OIDC). */
export function authConfigured(config: AuthConfig): boolean {
  return parseAuthTokens(config.AUTH_TOKENS).length > 0 || Boolean(config.OIDC_ISSUER)
}

/**
 * What a service's boot must refuse: listening beyond loopback without authentication (no
 * tokens, no OIDC, or AUTH_DISABLED). Throws one error saying how to fix it.
 */
export function assertAuthForListen(config: AuthConfig, host: string | undefined = config.HOST): void {
  if (isLoopbackHost(host)) return
  if (config.AUTH_DISABLED) {
    throw new Error(`refusing to listen on ${host ?? '(all interfaces)'} with AUTH_DISABLED=true: AUTH_DISABLED is for loopback (HOST=127.0.0.1) only`)
  }
  if (!authConfigured(config)) {
    throw new Error(`refusing to listen on ${host ?? '(all interfaces)'} without authentication: set AUTH_TOKENS (name:scopes:sha256hex) and/or OIDC_ISSUER with OIDC_AUDIENCE, or listen on 127.0.0.1`)
  }
}

/** Errors in the auth settings themselves (checked when the plugin registers). */
function assertAuthSettings(config: AuthConfig): void {
  parseAuthTokens(config.AUTH_TOKENS)
  if (config.OIDC_ISSUER && !config.OIDC_AUDIENCE) throw new Error('OIDC_ISSUER needs OIDC_AUDIENCE: without it any client of the issuer would be accepted')
  if (!config.OIDC_ISSUER && (config.OIDC_AUDIENCE || config.OIDC_JWKS_URL)) throw new Error('OIDC_AUDIENCE/OIDC_JWKS_URL need OIDC_ISSUER')
  assertAuthForListen(config)
}

// Asymmetric algorithms only: a JWKS holds public keys, so HS* and "none" never verify.
const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']
const OIDC_FETCH_TIMEOUT_MS = 5_000

/** Scopes from a claim: a space-separated string (OAuth `scope`) or an array (`scp`, groups); dotted paths reach nested claims. */
export function scopesFromClaim(payload: JWTPayload, claim: string): string[] {
  let value: unknown = payload[claim]
  if (value === undefined && claim.includes('.')) {
    value = claim.split('.').reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), payload)
  }
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean)
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string')
  return []
}

class OidcVerifier {
  private keys: Promise<JWTVerifyGetKey> | undefined
  constructor(private readonly config: AuthConfig & { OIDC_ISSUER: string; OIDC_AUDIENCE: string }) {}

  private keySet(): Promise<JWTVerifyGetKey> {
    this.keys ??= this.jwksUrl().then((url) => createRemoteJWKSet(new URL(url), {
      timeoutDuration: OIDC_FETCH_TIMEOUT_MS,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
    }))
    // A failed discovery is retried on the next request instead of being remembered.
    this.keys.catch(() => { this.keys = undefined })
    return this.keys
  }

  private async jwksUrl(): Promise<string> {
    if (this.config.OIDC_JWKS_URL) return this.config.OIDC_JWKS_URL
    const discovery = `${this.config.OIDC_ISSUER.replace(/\/+$/, '')}/.well-known/openid-configuration`
    const response = await fetch(discovery, { signal: AbortSignal.timeout(OIDC_FETCH_TIMEOUT_MS), redirect: 'error' })
    if (!response.ok) throw new Error(`${discovery} answered ${response.status}`)
    const document = (await response.json()) as { jwks_uri?: unknown }
    if (typeof document.jwks_uri !== 'string') throw new Error(`${discovery} has no jwks_uri`)
    return document.jwks_uri
  }

  /** The principal a JWT names; throws AuthErrors.INVALID_CREDENTIALS or OIDC_UNAVAILABLE. */
  async verify(jwt: string): Promise<Principal & { expiresAt: number }> {
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(jwt, await this.keySet(), {
        issuer: this.config.OIDC_ISSUER,
        algorithms: JWT_ALGORITHMS,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: 30,
      }))
    } catch (err) {
      throw oidcError(err)
    }
    // Cognito access tokens carry no aud but the app client's id in client_id.
    const audiences = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud]
    const audienceOk = payload.aud === undefined ? payload.client_id === this.config.OIDC_AUDIENCE : audiences.includes(this.config.OIDC_AUDIENCE)
    if (!audienceOk) throw new AuthErrors.INVALID_CREDENTIALS('the JWT is not for this audience (aud)')
    return { name: String(payload.sub), scopes: scopesFromClaim(payload, this.config.OIDC_SCOPES_CLAIM), via: 'oidc', expiresAt: (payload.exp as number) * 1000 }
  }
}

function oidcError(err: unknown): Error {
  if (err instanceof joseErrors.JWTExpired) return new AuthErrors.INVALID_CREDENTIALS('the JWT has expired (exp)')
  if (err instanceof joseErrors.JWTClaimValidationFailed) return new AuthErrors.INVALID_CREDENTIALS(`the JWT's ${err.claim} claim is not accepted`)
  if (err instanceof joseErrors.JWKSTimeout) return new AuthErrors.OIDC_UNAVAILABLE('the JWKS request timed out')
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new AuthErrors.INVALID_CREDENTIALS("no key in the issuer's JWKS matches the JWT")
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new AuthErrors.INVALID_CREDENTIALS('the JWT signature does not verify')
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new AuthErrors.INVALID_CREDENTIALS('the JWT algorithm is not accepted')
  if (err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JOSENotSupported) {
    return new AuthErrors.INVALID_CREDENTIALS('the JWT is malformed')
  }
  return new AuthErrors.OIDC_UNAVAILABLE(err instanceof Error && !(err instanceof joseErrors.JOSEError) ? 'the issuer did not answer' : 'the JWKS is not usable')
}

export interface AuthPluginOptions {
  config: AuthConfig
  /** The scopes this service knows; AUTH_DISABLED grants all of them. */
  scopes: readonly string[]
  /** Names the cookies (`kms_<service>_session`): services on one host share cookies across ports. */
  service?: string
}

interface SessionData {
  /** principal name */ n: string
  /** scopes (OIDC sessions; token sessions re-read theirs from AUTH_TOKENS) */ s: string[]
  /** how the session was opened */ v: 'token' | 'oidc'
  /** expiry, ms since the epoch */ e: number
  /** the token's hash prefix: a token removed from AUTH_TOKENS ends its sessions */ k?: string
}

const PUBLIC_PATHS = new Set(['/healthz', '/readyz'])
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const CSRF_HEADER = 'x-csrf-token'
const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

function isPublic(request: FastifyRequest): boolean {
  const url = request.routeOptions.url
  return url !== undefined && (PUBLIC_PATHS.has(url) || url.startsWith('/auth/'))
}

function wwwAuthenticate(reply: FastifyReply, error?: string, description?: string) {
  const attributes = ['realm="kms-share"']
  if (error) attributes.push(`error="${error}"`)
  if (description) attributes.push(`error_description="${description.replace(/["\\]/g, '')}"`)
  reply.header('www-authenticate', `Bearer ${attributes.join(', ')}`)
}

/** The origin this request was sent to, as a browser would write it in `Origin`. */
function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}

/** Why a cookie-authenticated request looks cross-site, or undefined when it does not. */
function crossSiteReason(request: FastifyRequest): string | undefined {
  const site = request.headers['sec-fetch-site']
  if (typeof site === 'string' && site !== 'same-origin') return `Sec-Fetch-Site is ${site}`
  const origin = request.headers.origin
  if (typeof origin === 'string' && origin !== ownOrigin(request)) return `Origin ${origin} is not ${ownOrigin(request)}`
  return undefined
}

/**
 * Authentication for every route but /healthz, /readyz and /auth/*: Bearer API token, Bearer
 * OIDC JWT, or the session cookie the sign-in routes set. Sets request.principal.
 */
export const authPlugin = fp(
  async function authPlugin(app: FastifyInstance, options: AuthPluginOptions) {
    const { config } = options
    assertAuthSettings(config)
    const service = (options.service ?? 'kms-share').replace(/[^A-Za-z0-9_-]/g, '_')
    const sessionCookie = `kms_${service}_session`
    const csrfCookie = `kms_${service}_csrf`
    const tokens = parseAuthTokens(config.AUTH_TOKENS)
    const byHash = new Map(tokens.map((entry) => [entry.hash, entry]))
    const oidc = config.OIDC_ISSUER && config.OIDC_AUDIENCE
      ? new OidcVerifier({ ...config, OIDC_ISSUER: config.OIDC_ISSUER, OIDC_AUDIENCE: config.OIDC_AUDIENCE })
      : undefined
    const secrets = config.SESSION_SECRET ? config.SESSION_SECRET.split(',').map((s) => s.trim()).filter(Boolean) : [randomBytes(32).toString('base64url')]
    const ttlMs = config.SESSION_TTL_SECONDS * 1000

    if (config.AUTH_DISABLED) app.log.warn('AUTH_DISABLED: every route is open to anyone who reaches this loopback address')
    else if (!authConfigured(config)) app.log.warn('no AUTH_TOKENS and no OIDC_ISSUER: every route but /healthz and /readyz answers 401')
    if (!config.SESSION_SECRET) app.log.info('SESSION_SECRET unset: page sessions are signed with a random secret and end when the process restarts')
    for (const entry of tokens) {
      const unknown = entry.scopes.filter((s) => !options.scopes.includes(s))
      if (unknown.length) app.log.warn({ token: entry.name, scopes: unknown }, 'token scopes this service does not know (ignored here)')
    }

    await app.register(cookie, { secret: secrets, hook: 'onRequest' })
    await app.register(csrfProtection, {
      cookieKey: csrfCookie,
      cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: 'auto', signed: true },
      getUserInfo: (request: FastifyRequest) => request.principal?.name ?? '',
      getToken: (request: FastifyRequest) => {
        const value = request.headers[CSRF_HEADER]
        return typeof value === 'string' ? value : undefined
      },
      csrfOpts: { hmacKey: createHash('sha256').update(`csrf:${secrets[0]}`).digest() },
    })
    app.decorateRequest('principal', undefined)

    function principalFromToken(token: string): Principal | undefined {
      const entry = byHash.get(hashToken(token))
      return entry ? { name: entry.name, scopes: entry.scopes, via: 'token' } : undefined
    }

    /** A Bearer credential → principal (with its expiry for OIDC); throws a 401/503 error. */
    async function verifyBearer(credential: string): Promise<Principal & { expiresAt?: number; hash?: string }> {
      if (oidc && JWT_SHAPE.test(credential)) return oidc.verify(credential)
      const principal = principalFromToken(credential)
      if (!principal) throw new AuthErrors.INVALID_CREDENTIALS(oidc ? 'not a known API token nor a valid OIDC JWT' : 'not a known API token')
      return { ...principal, hash: hashToken(credential) }
    }

    function readSession(request: FastifyRequest, reply: FastifyReply): Principal | undefined {
      const raw = request.cookies[sessionCookie]
      if (!raw) return undefined
      const unsigned = reply.unsignCookie(raw)
      if (!unsigned.valid || unsigned.value === null) return undefined
      let data: SessionData
      try {
        data = JSON.parse(Buffer.from(unsigned.value, 'base64url').toString('utf8')) as SessionData
      } catch {
        return undefined
      }
      if (typeof data.e !== 'number' || data.e <= Date.now() || typeof data.n !== 'string') return undefined
      if (data.v === 'token') {
        const entry = tokens.find((e) => e.name === data.n && data.k !== undefined && e.hash.startsWith(data.k))
        return entry ? { name: entry.name, scopes: entry.scopes, via: 'session' } : undefined
      }
      if (data.v === 'oidc' && oidc && Array.isArray(data.s)) return { name: data.n, scopes: data.s, via: 'session' }
      return undefined
    }

    function setPrincipal(request: FastifyRequest, reply: FastifyReply, { name, scopes, via }: Principal) {
      request.principal = { name, scopes, via }
      // Every later line about this request, Fastify's "request completed" included, names who asked.
      request.log = request.log.child({ principal: name, via })
      reply.log = request.log
    }

    /** A refused credential as problem+json: 401 (with WWW-Authenticate) or 503 for an unreachable issuer; anything else is a bug, logged. */
    function refuse(request: FastifyRequest, reply: FastifyReply, err: unknown, what: string) {
      const e = err as { code?: unknown; statusCode?: number; message: string }
      if (!(err instanceof Error) || typeof e.code !== 'string' || !e.code.startsWith('SHR_')) {
        request.log.error({ err }, `${what}: unexpected error`)
        return sendProblem(reply, problemOf(new SharedErrors.INTERNAL()))
      }
      if (e.statusCode === 401) wwwAuthenticate(reply, 'invalid_token', e.message)
      if (e.statusCode === 503) request.log.warn({ problem: e.code }, `${what}: ${e.message}`)
      else request.log.info({ problem: e.code }, `${what}: ${e.message}`)
      return sendProblem(reply, problemOf({ code: e.code, statusCode: e.statusCode, message: e.message }))
    }

    /** Runs @fastify/csrf-protection's check; its refusal becomes SHR_CSRF. */
    function csrfValid(request: FastifyRequest, reply: FastifyReply): boolean {
      let ok = false
      const probe = Object.create(reply, { send: { value: () => probe } }) as FastifyReply
      app.csrfProtection(request, probe, () => { ok = true })
      return ok
    }

    app.addHook('onRequest', async (request, reply) => {
      if (isPublic(request)) {
        // Sign-in routes see an existing session (GET /auth/csrf, GET /auth/session); health never needs one.
        if (request.routeOptions.url?.startsWith('/auth/')) {
          const session = readSession(request, reply)
          if (session) setPrincipal(request, reply, session)
        }
        return
      }
      if (config.AUTH_DISABLED) {
        setPrincipal(request, reply, { name: 'local', scopes: options.scopes, via: 'disabled' })
        return
      }
      const authorization = request.headers.authorization
      if (authorization !== undefined) {
        const match = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(authorization)
        if (!match) {
          wwwAuthenticate(reply, 'invalid_request', 'use Authorization: Bearer <token>')
          return sendProblem(reply, problemOf(new AuthErrors.INVALID_CREDENTIALS('the Authorization header is not "Bearer <token>"')))
        }
        try {
          setPrincipal(request, reply, await verifyBearer(match[1]))
          return
        } catch (err) {
          return refuse(request, reply, err, 'credentials refused')
        }
      }
      const session = readSession(request, reply)
      if (session) {
        if (!SAFE_METHODS.has(request.method)) {
          const reason = crossSiteReason(request)
          if (reason) {
            request.log.warn({ origin: request.headers.origin, secFetchSite: request.headers['sec-fetch-site'] }, 'cross-site request refused')
            return sendProblem(reply, problemOf(new AuthErrors.CROSS_SITE(reason)))
          }
          request.principal = session
          if (!csrfValid(request, reply)) {
            request.principal = undefined
            return sendProblem(reply, problemOf(new AuthErrors.CSRF(`fetch one from GET /auth/csrf and send it as ${CSRF_HEADER}`)))
          }
        }
        setPrincipal(request, reply, session)
        return
      }
      // A browser navigating to a page goes to the sign-in page; scripts get the 401.
      const accept = request.headers.accept ?? ''
      if ((request.method === 'GET' || request.method === 'HEAD') && accept.includes('text/html')) {
        return reply.redirect(`/auth/login?next=${encodeURIComponent(request.url)}`, 303)
      }
      wwwAuthenticate(reply)
      return sendProblem(reply, problemOf(new AuthErrors.UNAUTHENTICATED('send Authorization: Bearer <token> (an API token or an OIDC JWT) or sign in at /auth/login')))
    })

    const loginHtml = renderLoginPage(options.service ?? 'kms-share')
    app.get('/auth/login', {
      schema: { summary: 'The sign-in page; a link may carry the token as #token=… (fragments never reach the server).', tags: ['auth'], produces: ['text/html'], response: { 200: Type.String() } },
    }, async (_request, reply) => reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', LOGIN_PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .send(loginHtml))

    app.get('/auth/login.js', { schema: { hide: true, response: { 200: Type.String() } } }, async (_request, reply) => reply
      .type('text/javascript; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .send(LOGIN_SCRIPT))

    const SessionSchema = Type.Object({
      name: Type.String(),
      scopes: Type.Array(Type.String()),
      via: Type.String({ description: 'token, oidc, session or disabled' }),
      expiresAt: Type.Optional(Type.String({ description: 'When the session cookie stops working (ISO 8601).' })),
      csrfToken: Type.Optional(Type.String({ description: `Send as ${CSRF_HEADER} on state-changing requests.` })),
    })

    app.post('/auth/session', {
      schema: {
        summary: 'Sign in: exchange an API token or OIDC JWT (body {"token"} or Authorization: Bearer) for a session cookie.',
        tags: ['auth'],
        body: Type.Optional(Type.Object({ token: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })) })),
        response: { 200: SessionSchema, ...problemResponses(400, 401, 403, 503) },
      },
    }, async (request, reply) => {
      // Login CSRF: another site must not sign a browser in under the attacker's identity.
      const reason = crossSiteReason(request)
      if (reason) return sendProblem(reply, problemOf(new AuthErrors.CROSS_SITE(reason)))
      const fromHeader = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')?.[1]
      const credential = (request.body as { token?: string } | undefined)?.token ?? fromHeader
      if (!credential) {
        wwwAuthenticate(reply)
        return sendProblem(reply, problemOf(new AuthErrors.UNAUTHENTICATED('send {"token": "<API token or OIDC JWT>"}')))
      }
      let verified: Awaited<ReturnType<typeof verifyBearer>>
      try {
        verified = await verifyBearer(credential)
      } catch (err) {
        return refuse(request, reply, err, 'sign-in refused')
      }
      const expiresAt = Math.min(Date.now() + ttlMs, verified.expiresAt ?? Infinity)
      const data: SessionData = verified.via === 'oidc'
        ? { n: verified.name, s: [...verified.scopes], v: 'oidc', e: expiresAt }
        : { n: verified.name, s: [], v: 'token', e: expiresAt, k: verified.hash!.slice(0, 16) }
      reply.setCookie(sessionCookie, Buffer.from(JSON.stringify(data)).toString('base64url'), {
        path: '/', httpOnly: true, sameSite: 'strict', secure: 'auto', signed: true, expires: new Date(expiresAt),
      })
      request.principal = { name: verified.name, scopes: verified.scopes, via: verified.via }
      const csrfToken = reply.generateCsrf({ userInfo: verified.name })
      request.log.info({ principal: verified.name, via: verified.via }, 'signed in')
      return { name: verified.name, scopes: [...verified.scopes], via: verified.via, expiresAt: new Date(expiresAt).toISOString(), csrfToken }
    })

    app.get('/auth/session', {
      schema: { summary: 'Who the session cookie belongs to.', tags: ['auth'], response: { 200: SessionSchema, ...problemResponses(401) } },
    }, async (request, reply) => {
      if (!request.principal) {
        wwwAuthenticate(reply)
        return sendProblem(reply, problemOf(new AuthErrors.UNAUTHENTICATED('no session: sign in at /auth/login')))
      }
      return { name: request.principal.name, scopes: [...request.principal.scopes], via: request.principal.via }
    })

    app.delete('/auth/session', {
      schema: { summary: 'Sign out: clears the session cookie.', tags: ['auth'], response: { 204: Type.Null() } },
    }, async (_request, reply) => {
      reply.clearCookie(sessionCookie, { path: '/' })
      reply.clearCookie(csrfCookie, { path: '/' })
      return reply.code(204).send(null)
    })

    app.get('/auth/csrf', {
      schema: {
        summary: `The CSRF token the pages send as ${CSRF_HEADER} with state-changing requests.`,
        tags: ['auth'],
        response: { 200: Type.Object({ token: Type.String(), header: Type.String() }), ...problemResponses(401) },
      },
    }, async (request, reply) => {
      if (!request.principal) {
        wwwAuthenticate(reply)
        return sendProblem(reply, problemOf(new AuthErrors.UNAUTHENTICATED('no session: sign in at /auth/login')))
      }
      reply.header('cache-control', 'no-store')
      return { token: reply.generateCsrf({ userInfo: request.principal.name }), header: CSRF_HEADER }
    })
  },
  { name: 'kms-share-auth', fastify: '5.x' },
)

/**
 * A hook (use as onRequest or preHandler) answering 403 unless the principal holds every
 * given scope. Runs after the auth plugin's onRequest hook.
 */
export function requireScope(...scopes: string[]) {
  return async function scopeCheck(request: FastifyRequest, reply: FastifyReply) {
    const principal = request.principal
    if (!principal) {
      wwwAuthenticate(reply)
      return sendProblem(reply, problemOf(new AuthErrors.UNAUTHENTICATED('send Authorization: Bearer <token> or sign in at /auth/login')))
    }
    const missing = scopes.filter((s) => !principal.scopes.includes(s))
    if (missing.length === 0) return
    request.log.info({ missing }, 'missing scope')
    const held = principal.scopes.length ? `${principal.name} holds ${principal.scopes.join(', ')}` : `${principal.name} holds no scopes`
    const problem: Problem = problemOf(new AuthErrors.MISSING_SCOPE(missing.join(' and '), held), { missingScopes: missing } as Partial<Problem>)
    return sendProblem(reply, problem)
  }
}
