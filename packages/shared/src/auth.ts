// Who may call a service. Scripts: API tokens (stored as SHA-256 hashes, each with scopes) and OIDC
// JWTs (the provider's client-credentials tokens). People: the OpenID Connect code flow with PKCE
// against the provider (OIDC_ISSUER, OIDC_CLIENT_ID), their groups mapped to scopes, and a page
// session kept on the server behind an HttpOnly, SameSite=Strict cookie, with Origin/Sec-Fetch-Site
// and CSRF-token checks on every state-changing request a cookie authenticates. Sign-out ends the
// session here and at the provider, which ends it at the other services by back-channel logout.
import { hash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import cookie from '@fastify/cookie'
import csrfProtection from '@fastify/csrf-protection'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static, type TObject, type TProperties } from 'typebox'
import { AUTH_TOKENS_PATTERN, BearerJwtVerifier, hashToken, isLoopbackHost, parseAuthTokens, scopesFromClaim, tokenService, type Principal } from './auth-bearer.js'
import { AuthErrors } from './auth-errors.js'
import { LOGIN_PAGE_CSP, LOGIN_SCRIPT, renderLoginPage } from './auth-login-page.js'
import { DEFAULT_SCOPE_MAP, groupsGranting, parseScopeMap, providerFetch, RelyingParty, SCOPE_MAP_PATTERN, scopesForGroups, type LoginTransaction, type ScopeMap, type SignInResult } from './auth-oidc.js'
import { AUTH_PAGE_CSP, continuePage, missingGroupPage, SESSION_SCRIPT, signedOutPage, signInFailedPage, signOutForm } from './auth-pages.js'
import { SessionStore, type SessionRecord } from './auth-sessions.js'
import { EnvBoolean } from './config.js'
import { problemOf, problemResponses, ProblemError, sendProblem, SharedErrors, type Problem } from './errors.js'

export * from './auth-bearer.js'
export { AuthErrors } from './auth-errors.js'
export { DEFAULT_SCOPE_MAP, groupsGranting, parseScopeMap, scopesForGroups, type ScopeMap } from './auth-oidc.js'
export { SessionStore, type SessionRecord } from './auth-sessions.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth plugin on every authenticated request; unset on public routes. */
    principal?: Principal
  }
  interface FastifyInstance {
    /** The auth plugin's state: page sessions, the group → scope map, the step-up check. */
    auth: AuthHandle
  }
}

export interface AuthHandle {
  /** The service's name, as pages show it. */
  service: string
  sessions: SessionStore
  scopeMap: ScopeMap
  /** Whether people sign in through an OpenID Provider here (OIDC_CLIENT_ID). */
  signInWithProvider: boolean
  /**
   * RFC 9470 step-up for a sensitive operation: throws a 401 with `WWW-Authenticate: Bearer
   * error="insufficient_user_authentication"` when a person's session lacks `mfa` in amr or its
   * authentication is older than OIDC_STEP_UP_MAX_AGE_SECONDS. Scripts (tokens) pass: they have their own MFA path.
   */
  assertStepUp(request: FastifyRequest, action: string): void
  /** The sign-in line and sign-out form for a page ('' without a page session). */
  signOutHtml(request: FastifyRequest, reply: FastifyReply): string
}

/** Spread into a service's config schema next to serviceConfigProperties. */
export const authConfigProperties = {
  AUTH_TOKENS: Type.Optional(Type.String({
    pattern: AUTH_TOKENS_PATTERN,
    description: 'API tokens as name:scope1+scope2:sha256hex entries separated by commas — SHA-256 hashes (hex) only, never the tokens.',
  })),
  OIDC_ISSUER: Type.Optional(Type.String({ minLength: 1, description: "The OpenID Provider's issuer, e.g. https://cognito-idp.<region>.amazonaws.com/<pool id>; the lab's: https://127.0.0.1:4566/oidc." })),
  OIDC_CLIENT_ID: Type.Optional(Type.String({ minLength: 1, description: "This service's client id at the provider: with it, people sign in on the pages through the provider (code flow with PKCE)." })),
  OIDC_CLIENT_SECRET_FILE: Type.Optional(Type.String({ minLength: 1, description: "A file holding the client's secret (required with OIDC_CLIENT_ID; never the secret itself in the environment)." })),
  OIDC_REDIRECT_URI: Type.Optional(Type.String({ minLength: 1, description: 'The redirect URI registered at the provider; default <the origin the page was asked for>/auth/callback.' })),
  OIDC_POST_LOGOUT_REDIRECT_URI: Type.Optional(Type.String({ minLength: 1, description: 'Where the provider sends people after sign-out; default <origin>/auth/signed-out.' })),
  OIDC_REQUEST_SCOPES: Type.String({ minLength: 1, default: 'openid profile', description: 'Scopes asked for at sign-in (Entra ID: add offline_access for refresh tokens).' }),
  OIDC_GROUPS_CLAIM: Type.String({ minLength: 1, default: 'groups', description: 'The ID token claim holding the groups: groups (the lab, Keycloak with a group mapper, Entra ID), cognito:groups, roles; dotted paths reach nested claims (realm_access.roles).' }),
  OIDC_SCOPE_MAP: Type.String({ pattern: SCOPE_MAP_PATTERN, default: DEFAULT_SCOPE_MAP, description: 'Which scopes each group gives: group=scope+scope entries separated by commas.' }),
  OIDC_STEP_UP_MAX_AGE_SECONDS: Type.Integer({ minimum: 0, maximum: 24 * 3600, default: 900, description: 'Sensitive key operations need a sign-in with MFA at most this old (RFC 9470 step-up).' }),
  OIDC_STEP_UP_ACR_VALUES: Type.Optional(Type.String({ minLength: 1, description: 'acr_values to ask for at step-up (e.g. the lab: urn:kms-share:acr:mfa; Keycloak: your MFA level).' })),
  OIDC_CA_FILE: Type.Optional(Type.String({ minLength: 1, description: "Extra CA certificate(s) (PEM) to trust for the provider only, e.g. the lab's CA." })),
  OIDC_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'The audience (aud) Bearer JWTs must carry (the lab: urn:kms-share:api); for Cognito access tokens (no aud) their client_id. Default: OIDC_CLIENT_ID.' })),
  OIDC_JWKS_URL: Type.Optional(Type.String({ minLength: 1, description: "The issuer's JWKS; when unset, jwks_uri from <issuer>/.well-known/openid-configuration." })),
  OIDC_SCOPES_CLAIM: Type.String({ minLength: 1, default: 'scope', description: 'The claim of a Bearer JWT holding its scopes: a space-separated string or an array (e.g. scope, scp).' }),
  OIDC_SCOPE_PREFIX: Type.Optional(Type.String({ minLength: 1, description: "A Bearer JWT's scopes count only with this prefix, which is taken off: Cognito writes a resource server's scope as <identifier>/<scope> (e.g. kms-share/)." })),
  SESSION_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Signs the session and CSRF cookies (32+ characters; several separated by commas rotate: the first signs). When unset, a random one per process.' })),
  SESSION_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 7 * 24 * 3600, default: 8 * 3600, description: 'How long a page session lasts at most.' }),
  TRUST_PROXY: Type.Optional(Type.String({ minLength: 1, description: "Proxies whose X-Forwarded-Proto/-Host/-For count (Fastify's trustProxy): true, or the proxies' addresses/CIDRs separated by commas. Behind a TLS-terminating proxy it makes cookies Secure and the Origin check see the public origin." })),
  AUTH_DISABLED: EnvBoolean(false, 'Serve every route without authentication (development only: refused unless HOST is a loopback address).'),
} satisfies TProperties

export type AuthConfig = Static<TObject<typeof authConfigProperties>> & { HOST?: string }

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
    throw new Error(`refusing to listen on ${host ?? '(all interfaces)'} without authentication: set AUTH_TOKENS (name:scopes:sha256hex) and/or OIDC_ISSUER with OIDC_CLIENT_ID or OIDC_AUDIENCE, or listen on 127.0.0.1`)
  }
}

/** Errors in the auth settings themselves (checked when the plugin registers). */
function assertAuthSettings(config: AuthConfig): void {
  parseAuthTokens(config.AUTH_TOKENS)
  parseScopeMap(config.OIDC_SCOPE_MAP)
  if (config.OIDC_ISSUER && !config.OIDC_AUDIENCE && !config.OIDC_CLIENT_ID) throw new Error('OIDC_ISSUER needs OIDC_CLIENT_ID (people sign in) or OIDC_AUDIENCE (Bearer JWTs): without either any client of the issuer would be accepted')
  if (!config.OIDC_ISSUER && (config.OIDC_AUDIENCE || config.OIDC_JWKS_URL || config.OIDC_CLIENT_ID)) throw new Error('OIDC_CLIENT_ID/OIDC_AUDIENCE/OIDC_JWKS_URL need OIDC_ISSUER')
  if (config.OIDC_CLIENT_ID && !config.OIDC_CLIENT_SECRET_FILE) throw new Error('OIDC_CLIENT_ID needs OIDC_CLIENT_SECRET_FILE: a file holding the client secret')
  assertAuthForListen(config)
}

function readSecretFile(file: string): string {
  let secret: string
  try {
    secret = readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw new Error(`OIDC_CLIENT_SECRET_FILE ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  if (!secret) throw new Error(`OIDC_CLIENT_SECRET_FILE ${file} is empty`)
  return secret
}

export interface AuthPluginOptions {
  config: AuthConfig
  /** The scopes this service knows; AUTH_DISABLED grants all of them. */
  scopes: readonly string[]
  /** Names the cookies (`kms_<service>_session`): services on one host share cookies across ports. */
  service?: string
}

const PUBLIC_PATHS = new Set(['/healthz', '/readyz'])
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const CSRF_HEADER = 'x-csrf-token'
const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
/** An OIDC session refreshes its tokens when the access token has less than this left. */
const REFRESH_MARGIN_MS = 60_000
const TRANSACTION_TTL_MS = 10 * 60_000
/** Sign-ins in flight per browser (tabs): the oldest beyond this is forgotten. */
const MAX_TRANSACTIONS = 3

function isPublic(request: FastifyRequest): boolean {
  const url = request.routeOptions.url
  return url !== undefined && (PUBLIC_PATHS.has(url) || url.startsWith('/auth/'))
}

function wwwAuthenticate(reply: FastifyReply, error?: string, description?: string, extra: Record<string, string> = {}) {
  reply.header('www-authenticate', challenge(error, description, extra))
}

function challenge(error?: string, description?: string, extra: Record<string, string> = {}): string {
  const attributes = ['realm="kms-share"']
  if (error) attributes.push(`error="${error}"`)
  if (description) attributes.push(`error_description="${description.replace(/["\\]/g, '')}"`)
  for (const [k, v] of Object.entries(extra)) attributes.push(`${k}="${v.replace(/["\\]/g, '')}"`)
  return `Bearer ${attributes.join(', ')}`
}

/** The origin this request was sent to, as a browser would write it in `Origin`. */
function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}

/** A `next` from a query string as a path on this origin: resolved against it, anything that leaves it becomes "/". */
export function sameOriginPath(origin: string, next: unknown): string {
  if (typeof next !== 'string' || next === '') return '/'
  let url: URL
  try {
    url = new URL(next, `${origin}/`)
  } catch {
    return '/'
  }
  return url.origin === origin ? `${url.pathname}${url.search}${url.hash}` : '/'
}

/** Why a cookie-authenticated request looks cross-site, or undefined when it does not. */
function crossSiteReason(request: FastifyRequest): string | undefined {
  const site = request.headers['sec-fetch-site']
  if (typeof site === 'string' && site !== 'same-origin') return `Sec-Fetch-Site is ${site}`
  const origin = request.headers.origin
  if (typeof origin === 'string' && origin !== ownOrigin(request)) return `Origin ${origin} is not ${ownOrigin(request)}`
  return undefined
}

function wantsHtml(request: FastifyRequest): boolean {
  return (request.method === 'GET' || request.method === 'HEAD') && (request.headers.accept ?? '').includes('text/html')
}

function htmlPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8')
    .header('content-security-policy', AUTH_PAGE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('cache-control', 'no-store')
    .send(html)
}

/**
 * Authentication for every route but /healthz, /readyz and /auth/*: Bearer API token, Bearer
 * OIDC JWT, or the page session the sign-in routes set. Sets request.principal.
 */
export const authPlugin = fp(
  async function authPlugin(app: FastifyInstance, options: AuthPluginOptions) {
    const { config } = options
    assertAuthSettings(config)
    const serviceName = options.service ?? 'kms-share'
    const service = serviceName.replace(/[^A-Za-z0-9_-]/g, '_')
    const sessionCookie = `kms_${service}_session`
    const csrfCookie = `kms_${service}_csrf`
    const signInCookie = `kms_${service}_signin`
    const tokens = parseAuthTokens(config.AUTH_TOKENS)
    const byHash = new Map(tokens.map((entry) => [entry.hash, entry]))
    const scopeMap = parseScopeMap(config.OIDC_SCOPE_MAP)
    const toProvider = providerFetch(config.OIDC_CA_FILE)
    const rp = config.OIDC_ISSUER && config.OIDC_CLIENT_ID
      ? new RelyingParty({ issuer: config.OIDC_ISSUER, clientId: config.OIDC_CLIENT_ID, clientSecret: readSecretFile(config.OIDC_CLIENT_SECRET_FILE!), scopes: config.OIDC_REQUEST_SCOPES, fetch: toProvider })
      : undefined
    const audience = config.OIDC_AUDIENCE ?? config.OIDC_CLIENT_ID
    const groupScopes = (payload: Record<string, unknown>) => scopesForGroups(scopeMap, scopesFromClaim(payload, config.OIDC_GROUPS_CLAIM))
    const bearerJwt = config.OIDC_ISSUER && audience
      ? new BearerJwtVerifier({
          issuer: config.OIDC_ISSUER,
          audience,
          scopesClaim: config.OIDC_SCOPES_CLAIM,
          ...(config.OIDC_SCOPE_PREFIX ? { scopePrefix: config.OIDC_SCOPE_PREFIX } : {}),
          groupScopes,
          ...(config.OIDC_JWKS_URL ? { jwksUrl: config.OIDC_JWKS_URL } : {}),
          fetch: toProvider as unknown as typeof fetch,
        })
      : undefined
    const sessions = new SessionStore()
    const secrets = config.SESSION_SECRET ? config.SESSION_SECRET.split(',').map((s) => s.trim()).filter(Boolean) : [randomBytes(32).toString('base64url')]
    const ttlMs = config.SESSION_TTL_SECONDS * 1000
    const refreshing = new Map<string, Promise<boolean>>()

    if (config.AUTH_DISABLED) app.log.warn('AUTH_DISABLED: every route is open to anyone who reaches this loopback address')
    else if (!authConfigured(config)) app.log.warn('no AUTH_TOKENS and no OIDC_ISSUER: every route but /healthz and /readyz answers 401')
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
        if (typeof value === 'string') return value
        const body = request.body as { csrf?: unknown } | undefined
        return typeof body?.csrf === 'string' ? body.csrf : undefined
      },
      csrfOpts: { hmacKey: hash('sha256', `csrf:${secrets[0]}`, 'buffer') },
    })
    app.decorateRequest('principal', undefined)

    function principalFromToken(token: string): Principal | undefined {
      const entry = byHash.get(hashToken(token))
      return entry ? { name: entry.name, scopes: entry.scopes, via: 'token' } : undefined
    }

    /** A Bearer credential → principal (with its expiry for OIDC); throws a 401/503 error. */
    async function verifyBearer(credential: string): Promise<Principal & { expiresAt?: number; hash?: string }> {
      if (bearerJwt && JWT_SHAPE.test(credential)) return bearerJwt.verify(credential)
      const principal = principalFromToken(credential)
      if (!principal) {
        const owner = tokenService(credential)
        if (owner && owner !== serviceName) throw new AuthErrors.INVALID_CREDENTIALS(`this token belongs to the ${owner} service (it starts kms_${owner}_): use it there, or ask for a ${serviceName} token`)
        throw new AuthErrors.INVALID_CREDENTIALS(bearerJwt ? 'not a known API token nor a valid OIDC JWT' : 'not a known API token')
      }
      return { ...principal, hash: hashToken(credential) }
    }

    function sessionCookieOptions(expiresAt: number) {
      return { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: 'auto' as const, signed: true, expires: new Date(expiresAt) }
    }

    function principalOf(record: SessionRecord): Principal {
      return {
        name: record.name,
        scopes: record.scopes,
        via: 'session',
        ...(record.oidc ? { person: { groups: record.groups, amr: record.oidc.amr, ...(record.oidc.authTime !== undefined ? { authTime: record.oidc.authTime } : {}), ...(record.oidc.acr ? { acr: record.oidc.acr } : {}) } } : {}),
      }
    }

    function applySignIn(record: Pick<SessionRecord, 'name' | 'scopes' | 'groups' | 'oidc'>, result: SignInResult) {
      const claims = result.claims as Record<string, unknown> | undefined
      const previous = record.oidc
      if (claims) {
        record.groups = scopesFromClaim(claims, config.OIDC_GROUPS_CLAIM)
        record.scopes = scopesForGroups(scopeMap, record.groups)
        record.name = result.name || record.name
      }
      const amr = claims && Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string') : previous?.amr ?? []
      const authTime = claims && typeof claims.auth_time === 'number' ? claims.auth_time : previous?.authTime
      const sid = claims && typeof claims.sid === 'string' ? claims.sid : previous?.sid
      const acr = claims && typeof claims.acr === 'string' ? claims.acr : previous?.acr
      record.oidc = {
        sub: result.sub || previous?.sub || '',
        idToken: result.idToken || previous?.idToken || '',
        accessToken: result.accessToken,
        accessExpiresAt: result.accessExpiresAt,
        amr,
        ...(result.refreshToken ?? previous?.refreshToken ? { refreshToken: result.refreshToken ?? previous?.refreshToken } : {}),
        ...(authTime !== undefined ? { authTime } : {}),
        ...(sid ? { sid } : {}),
        ...(acr ? { acr } : {}),
      }
    }

    /** Refreshes an OIDC session whose access token nears expiry (once at a time per session); false: the session is over. */
    async function keepFresh(record: SessionRecord, request: FastifyRequest): Promise<boolean> {
      const tokens = record.oidc
      if (!tokens || !rp) return false
      if (tokens.accessExpiresAt - Date.now() > REFRESH_MARGIN_MS) return true
      if (!tokens.refreshToken) return tokens.accessExpiresAt > Date.now()
      let pending = refreshing.get(record.id)
      if (!pending) {
        pending = rp.refresh(tokens.refreshToken).then((result) => {
          applySignIn(record, result)
          request.log.info({ principal: record.name }, 'session tokens refreshed')
          return true
        }, (err: unknown) => {
          // Refused by the provider (signed out there, grant revoked): the session ends. Unreachable: it lasts until its token expires.
          const refused = (err as { code?: string }).code === 'OAUTH_RESPONSE_BODY_ERROR'
          request.log.warn({ principal: record.name, err: (err as Error).message }, refused ? 'the provider refused the refresh: session ended' : 'token refresh failed')
          return !refused && tokens.accessExpiresAt > Date.now()
        }).finally(() => refreshing.delete(record.id))
        refreshing.set(record.id, pending)
      }
      return pending
    }

    async function readSession(request: FastifyRequest, reply: FastifyReply): Promise<SessionRecord | undefined> {
      const raw = request.cookies[sessionCookie]
      if (!raw) return undefined
      const unsigned = reply.unsignCookie(raw)
      if (!unsigned.valid || unsigned.value === null) return undefined
      const record = sessions.get(unsigned.value)
      if (!record) return undefined
      if (record.via === 'token') {
        const entry = record.tokenHash ? byHash.get(record.tokenHash) : undefined
        if (!entry) {
          sessions.delete(record.id)
          return undefined
        }
        record.scopes = entry.scopes
        return record
      }
      // A pasted JWT's session ends with the JWT (expiresAt); a provider sign-in's lives on its refreshed tokens.
      if (record.oidc && !(await keepFresh(record, request))) {
        sessions.delete(record.id)
        return undefined
      }
      return record
    }

    function setPrincipal(request: FastifyRequest, reply: FastifyReply, principal: Principal) {
      request.principal = principal
      // Every later line about this request, Fastify's "request completed" included, names who asked.
      request.log = request.log.child({ principal: principal.name, via: principal.via })
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

    /** Same origin and a valid CSRF token, for a state-changing request a cookie authenticates; answers the refusal sent, if any. */
    function refuseForgery(request: FastifyRequest, reply: FastifyReply, principal: Principal | undefined): FastifyReply | undefined {
      const reason = crossSiteReason(request)
      if (reason) {
        request.log.warn({ origin: request.headers.origin, secFetchSite: request.headers['sec-fetch-site'] }, 'cross-site request refused')
        return sendProblem(reply, problemOf(new AuthErrors.CROSS_SITE(reason)))
      }
      if (!principal) return undefined
      request.principal = principal
      if (!csrfValid(request, reply)) {
        request.principal = undefined
        return sendProblem(reply, problemOf(new AuthErrors.CSRF(`fetch one from GET /auth/csrf and send it as ${CSRF_HEADER}`)))
      }
      return undefined
    }

    app.addHook('onRequest', async (request, reply) => {
      if (isPublic(request)) {
        // Sign-in routes see an existing session (GET /auth/csrf, GET /auth/session, sign-out); health never needs one.
        if (request.routeOptions.url?.startsWith('/auth/')) {
          const record = await readSession(request, reply)
          if (record) setPrincipal(request, reply, principalOf(record))
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
          const { expiresAt: _expiresAt, hash: _hash, ...principal } = await verifyBearer(match[1])
          setPrincipal(request, reply, principal)
          return
        } catch (err) {
          return refuse(request, reply, err, 'credentials refused')
        }
      }
      const record = await readSession(request, reply)
      if (record) {
        const principal = principalOf(record)
        if (!SAFE_METHODS.has(request.method)) {
          const refused = refuseForgery(request, reply, principal)
          if (refused) return refused
        }
        setPrincipal(request, reply, principal)
        return
      }
      // A browser navigating to a page goes to sign in and comes back here; scripts get the 401.
      if (wantsHtml(request)) return reply.redirect(`/auth/login?next=${encodeURIComponent(request.url)}`, 303)
      wwwAuthenticate(reply)
      return sendProblem(reply, problemOf(new AuthErrors.UNAUTHENTICATED('send Authorization: Bearer <token> (an API token or an OIDC JWT) or sign in at /auth/login')))
    })

    const handle: AuthHandle = {
      service: serviceName,
      sessions,
      scopeMap,
      signInWithProvider: Boolean(rp),
      assertStepUp(request, action) {
        const person = request.principal?.person
        if (!person) return
        const age = person.authTime === undefined ? Infinity : Date.now() / 1000 - person.authTime
        const fresh = age <= config.OIDC_STEP_UP_MAX_AGE_SECONDS
        const mfa = person.amr.includes('mfa')
        if (fresh && mfa) return
        const why = !mfa ? 'your sign-in did not use a second factor (amr has no mfa)' : `your sign-in is ${Math.round(age)} s old (at most ${config.OIDC_STEP_UP_MAX_AGE_SECONDS} s)`
        request.log.info({ action, mfa, authAgeSeconds: Math.round(age) }, 'step-up required')
        throw new ProblemError(problemOf(new AuthErrors.STEP_UP_REQUIRED(action, why), { action }), {
          headers: {
            'www-authenticate': challenge('insufficient_user_authentication', `${action} needs a recent sign-in with MFA`, {
              max_age: String(config.OIDC_STEP_UP_MAX_AGE_SECONDS),
              ...(config.OIDC_STEP_UP_ACR_VALUES ? { acr_values: config.OIDC_STEP_UP_ACR_VALUES } : {}),
            }),
          },
        })
      },
      signOutHtml(request, reply) {
        const principal = request.principal
        if (principal?.via !== 'session') return ''
        return signOutForm(principal.name, reply.generateCsrf({ userInfo: principal.name }))
      },
    }
    app.decorate('auth', handle)

    // ---- sign-in through the provider
    function readTransactions(request: FastifyRequest, reply: FastifyReply): Array<LoginTransaction & { redirectUri: string; at: number }> {
      const raw = request.cookies[signInCookie]
      if (!raw) return []
      const unsigned = reply.unsignCookie(raw)
      if (!unsigned.valid || unsigned.value === null) return []
      try {
        const list = JSON.parse(Buffer.from(unsigned.value, 'base64url').toString('utf8')) as Array<LoginTransaction & { redirectUri: string; at: number }>
        return Array.isArray(list) ? list.filter((t) => typeof t?.state === 'string' && t.at + TRANSACTION_TTL_MS > Date.now()) : []
      } catch {
        return []
      }
    }
    function writeTransactions(reply: FastifyReply, list: Array<LoginTransaction & { redirectUri: string; at: number }>) {
      // SameSite=Lax: the provider's redirect back is a cross-site top-level navigation, which Lax cookies follow.
      const options = { path: '/auth/', httpOnly: true, sameSite: 'lax' as const, secure: 'auto' as const, signed: true }
      if (list.length === 0) reply.clearCookie(signInCookie, options)
      else reply.setCookie(signInCookie, Buffer.from(JSON.stringify(list.slice(-MAX_TRANSACTIONS))).toString('base64url'), { ...options, maxAge: TRANSACTION_TTL_MS / 1000 })
    }

    const loginHtml = renderLoginPage(serviceName)
    app.get('/auth/login', {
      schema: {
        summary: 'Sign in: to the OpenID Provider and back (OIDC_CLIENT_ID), else the page for an API token. ?next= a path here to return to; ?step_up=1 a fresh sign-in with MFA.',
        tags: ['auth'],
        querystring: Type.Object({ next: Type.Optional(Type.String({ maxLength: 2048 })), step_up: Type.Optional(Type.String({ maxLength: 8 })) }),
        produces: ['text/html'],
        response: { 200: Type.String(), 303: Type.Null(), ...problemResponses(503) },
      },
    }, async (request, reply) => {
      const { next: asked, step_up: stepUpAsked } = request.query as { next?: string; step_up?: string }
      const next = sameOriginPath(ownOrigin(request), asked)
      if (!rp) {
        return reply.type('text/html; charset=utf-8')
          .header('content-security-policy', LOGIN_PAGE_CSP).header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer').header('cache-control', 'no-store')
          .send(loginHtml)
      }
      const stepUp = stepUpAsked === '1' || stepUpAsked === 'true'
      if (request.principal && !stepUp) return reply.redirect(next, 303)
      const redirectUri = config.OIDC_REDIRECT_URI ?? `${ownOrigin(request)}/auth/callback`
      let started
      try {
        // max_age=0 at step-up: the provider asks again whatever its own session (RFC 9470 §4).
        started = await rp.begin(redirectUri, next, stepUp ? { maxAge: 0, ...(config.OIDC_STEP_UP_ACR_VALUES ? { acrValues: config.OIDC_STEP_UP_ACR_VALUES } : {}) } : undefined)
      } catch (err) {
        request.log.warn({ err: (err as Error).message }, 'the OpenID Provider did not answer discovery')
        if (wantsHtml(request)) return htmlPage(reply, 503, signInFailedPage(serviceName, 'The sign-in service does not answer right now. Try again in a minute.', `/auth/login?next=${encodeURIComponent(next)}`))
        return sendProblem(reply, problemOf(new AuthErrors.OIDC_UNAVAILABLE('the provider did not answer discovery')))
      }
      writeTransactions(reply, [...readTransactions(request, reply), { ...started.transaction, redirectUri, at: Date.now() }])
      return reply.header('cache-control', 'no-store').redirect(started.url.href, 303)
    })

    app.get('/auth/callback', {
      schema: {
        summary: "Where the provider sends the person back (the redirect URI): the code is exchanged (PKCE, state, nonce, the ID token's signature, iss, aud, exp), a page session is made, and the person goes on to where they were.",
        tags: ['auth'],
        querystring: Type.Object({ code: Type.Optional(Type.String({ maxLength: 4096 })), state: Type.Optional(Type.String({ maxLength: 512 })), error: Type.Optional(Type.String({ maxLength: 256 })), error_description: Type.Optional(Type.String({ maxLength: 2048 })), iss: Type.Optional(Type.String({ maxLength: 2048 })), session_state: Type.Optional(Type.String({ maxLength: 512 })) }),
        produces: ['text/html'],
        response: { 200: Type.String(), 400: Type.String(), 401: Type.String(), 404: Type.String() },
      },
    }, async (request, reply) => {
      if (!rp) return htmlPage(reply, 404, signInFailedPage(serviceName, 'This service does not sign people in through a provider.', '/auth/login'))
      const query = request.query as { state?: string; error?: string }
      const pending = readTransactions(request, reply)
      const transaction = pending.find((t) => t.state === query.state)
      const failed = (status: number, reason: string, logged: string, next = '/') => {
        request.log.warn({ reason: logged }, 'sign-in refused')
        return htmlPage(reply, status, signInFailedPage(serviceName, reason, `/auth/login?next=${encodeURIComponent(next)}`))
      }
      if (!transaction) return failed(400, 'The sign-in was started in another browser or tab, or took more than 10 minutes.', 'no sign-in in flight with this state')
      writeTransactions(reply, pending.filter((t) => t !== transaction))
      if (query.error) {
        return failed(401, query.error === 'access_denied' ? 'You cancelled the sign-in.' : 'The sign-in service did not sign you in.', `the provider answered ${query.error}`, transaction.next)
      }
      const callbackUrl = new URL(transaction.redirectUri)
      callbackUrl.search = new URL(request.url, 'http://callback').search
      let result: SignInResult
      try {
        result = await rp.complete(callbackUrl, transaction)
      } catch (err) {
        const e = err as { code?: string; error?: string; message: string }
        return failed(401, "The sign-in service's answer could not be verified.", `${e.code ?? ''} ${e.error ?? ''} ${e.message}`.trim(), transaction.next)
      }
      // A new session id at every sign-in: a cookie planted before cannot be carried into this one.
      const old = request.cookies[sessionCookie] ? reply.unsignCookie(request.cookies[sessionCookie]) : undefined
      if (old?.valid && old.value) sessions.delete(old.value)
      const draft: Pick<SessionRecord, 'name' | 'scopes' | 'groups' | 'oidc'> = { name: result.name, scopes: [], groups: [] }
      applySignIn(draft, result)
      const record = sessions.create({ via: 'oidc', name: draft.name, scopes: draft.scopes, groups: draft.groups, oidc: draft.oidc!, expiresAt: Date.now() + ttlMs })
      reply.setCookie(sessionCookie, record.id, sessionCookieOptions(record.expiresAt))
      request.log.info({ principal: record.name, groups: record.groups, amr: record.oidc?.amr }, 'signed in through the provider')
      return htmlPage(reply, 200, continuePage(transaction.next))
    })

    // ---- sign-out; form bodies (a page without script, the provider's logout token) only on these routes
    await app.register(async (forms) => {
      forms.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)))
      })

      forms.post('/auth/logout', {
        schema: {
          summary: 'Sign out: ends the page session here (every copy of the cookie), then at the provider (RP-initiated logout), which signs the person out of the other services too. Same origin and the CSRF token (X-CSRF-Token or a csrf form field) required.',
          tags: ['auth'],
          // No body schema: a fetch sends none (the token in X-CSRF-Token), a form sends csrf=….
          response: { 200: Type.Object({ location: Type.String() }), 303: Type.Null(), ...problemResponses(403) },
        },
      }, async (request, reply) => {
        const refused = refuseForgery(request, reply, request.principal)
        if (refused) return refused
        let location = '/auth/signed-out'
        const raw = request.cookies[sessionCookie]
        const id = raw ? reply.unsignCookie(raw) : undefined
        const record = id?.valid && id.value ? sessions.get(id.value) : undefined
        if (id?.valid && id.value) sessions.delete(id.value)
        reply.clearCookie(sessionCookie, { path: '/' })
        reply.clearCookie(csrfCookie, { path: '/' })
        if (record?.oidc && rp) {
          const postLogout = config.OIDC_POST_LOGOUT_REDIRECT_URI ?? `${ownOrigin(request)}/auth/signed-out`
          try {
            location = (await rp.endSessionUrl(record.oidc.idToken, postLogout))?.href ?? location
          } catch (err) {
            request.log.warn({ err: (err as Error).message }, 'the provider did not answer: signed out here only')
          }
        }
        request.log.info({ principal: record?.name }, 'signed out')
        if ((request.headers.accept ?? '').includes('application/json')) return { location }
        return reply.redirect(location, 303)
      })

      forms.post('/auth/backchannel-logout', {
        schema: {
          summary: "The provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0): a logout token ends the person's sessions here.",
          tags: ['auth'],
          body: Type.Object({ logout_token: Type.String({ minLength: 1, maxLength: 8192 }) }),
          response: { 200: Type.Null(), ...problemResponses(400, 404) },
        },
      }, async (request, reply) => {
        reply.header('cache-control', 'no-store')
        if (!rp) return sendProblem(reply, problemOf(new SharedErrors.NOT_FOUND('POST', '/auth/backchannel-logout')))
        let who: { sid?: string; sub?: string }
        try {
          who = await rp.verifyLogoutToken((request.body as { logout_token: string }).logout_token)
        } catch (err) {
          request.log.warn({ err: (err as Error).message }, 'logout token refused')
          return sendProblem(reply, problemOf(new AuthErrors.BAD_LOGOUT_TOKEN((err as Error).message)))
        }
        const ended = sessions.deleteWhere((r) => Boolean(r.oidc) && (who.sid ? r.oidc!.sid === who.sid : true) && (who.sub ? r.oidc!.sub === who.sub : true))
        request.log.info({ sid: who.sid, sub: who.sub, ended }, 'back-channel logout')
        return reply.code(200).send(null)
      })
    })

    app.get('/auth/signed-out', {
      schema: { summary: 'Where the provider sends people after sign-out.', tags: ['auth'], produces: ['text/html'], response: { 200: Type.String() } },
    }, async (_request, reply) => htmlPage(reply, 200, signedOutPage(serviceName)))

    app.get('/auth/login.js', { schema: { hide: true, response: { 200: Type.String() } } }, async (_request, reply) => reply
      .type('text/javascript; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .send(LOGIN_SCRIPT))

    app.get('/auth/session.js', { schema: { hide: true, response: { 200: Type.String() } } }, async (_request, reply) => reply
      .type('text/javascript; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(SESSION_SCRIPT))

    const SessionSchema = Type.Object({
      name: Type.String(),
      scopes: Type.Array(Type.String()),
      via: Type.String({ description: 'token, oidc, session or disabled' }),
      groups: Type.Optional(Type.Array(Type.String())),
      amr: Type.Optional(Type.Array(Type.String({ description: 'How the person authenticated at the provider (RFC 8176): pwd, otp, mfa …' }))),
      authTime: Type.Optional(Type.String({ description: 'When the person last authenticated at the provider (ISO 8601).' })),
      expiresAt: Type.Optional(Type.String({ description: 'When the session ends at the latest (ISO 8601).' })),
      csrfToken: Type.Optional(Type.String({ description: `Send as ${CSRF_HEADER} on state-changing requests.` })),
    })

    app.post('/auth/session', {
      schema: {
        summary: 'Sign in with an API token or OIDC JWT (body {"token"} or Authorization: Bearer): a page session.',
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
      const old = request.cookies[sessionCookie] ? reply.unsignCookie(request.cookies[sessionCookie]) : undefined
      if (old?.valid && old.value) sessions.delete(old.value)
      const expiresAt = Math.min(Date.now() + ttlMs, verified.expiresAt ?? Infinity)
      const record = sessions.create({
        via: verified.via === 'oidc' ? 'oidc' : 'token',
        name: verified.name,
        scopes: [...verified.scopes],
        groups: [],
        expiresAt,
        ...(verified.hash ? { tokenHash: verified.hash } : {}),
      })
      reply.setCookie(sessionCookie, record.id, sessionCookieOptions(expiresAt))
      request.principal = { name: verified.name, scopes: verified.scopes, via: verified.via }
      const csrfToken = reply.generateCsrf({ userInfo: verified.name })
      request.log.info({ principal: verified.name, via: verified.via }, 'signed in')
      return { name: verified.name, scopes: [...verified.scopes], via: verified.via, expiresAt: new Date(expiresAt).toISOString(), csrfToken }
    })

    app.get('/auth/session', {
      schema: { summary: 'Who the session cookie belongs to.', tags: ['auth'], response: { 200: SessionSchema, ...problemResponses(401) } },
    }, async (request, reply) => {
      const principal = request.principal
      if (!principal) {
        wwwAuthenticate(reply)
        return sendProblem(reply, problemOf(new AuthErrors.UNAUTHENTICATED('no session: sign in at /auth/login')))
      }
      const person = principal.person
      return {
        name: principal.name,
        scopes: [...principal.scopes],
        via: principal.via,
        ...(person ? { groups: [...person.groups], amr: [...person.amr], ...(person.authTime !== undefined ? { authTime: new Date(person.authTime * 1000).toISOString() } : {}) } : {}),
      }
    })

    app.delete('/auth/session', {
      schema: { summary: 'Sign out here only (scripts; pages use POST /auth/logout): the session ends for every copy of its cookie. Same origin and the CSRF token required.', tags: ['auth'], response: { 204: Type.Null(), ...problemResponses(403) } },
    }, async (request, reply) => {
      const refused = refuseForgery(request, reply, request.principal)
      if (refused) return refused
      const raw = request.cookies[sessionCookie]
      const id = raw ? reply.unsignCookie(raw) : undefined
      if (id?.valid && id.value) sessions.delete(id.value)
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
 * A hook (use as onRequest or preHandler) answering 403 unless the principal holds every given
 * scope: a page for a person navigating (naming the group they lack), problem+json otherwise.
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
    const auth = (request.server as Partial<FastifyInstance>).auth
    const groupsFor = (scope: string) => (auth ? groupsGranting(auth.scopeMap, scope) : [])
    const missingGroups = [...new Set(missing.flatMap(groupsFor))]
    request.log.info({ missing, missingGroups }, 'missing scope')
    if (principal.person && wantsHtml(request) && auth) {
      return htmlPage(reply, 403, missingGroupPage({
        service: `kms-share ${auth.service}`,
        name: principal.name,
        groups: principal.person.groups,
        missing: missing.map((scope) => ({ scope, groups: groupsFor(scope) })),
        signOut: auth.signOutHtml(request, reply),
      }))
    }
    const held = principal.scopes.length ? `${principal.name} holds ${principal.scopes.join(', ')}` : `${principal.name} holds no scopes`
    const problem: Problem = problemOf(new AuthErrors.MISSING_SCOPE(missing.join(' and '), held), { missingScopes: missing, ...(principal.person ? { missingGroups } : {}) } as Partial<Problem>)
    return sendProblem(reply, problem)
  }
}
