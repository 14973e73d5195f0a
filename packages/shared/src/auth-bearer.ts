// Bearer credentials: API tokens (stored only as SHA-256 hashes, each with scopes) and OIDC JWTs
// (access tokens, client-credentials tokens) verified with `jose` against the issuer's JWKS.
import { hash, randomBytes } from 'node:crypto'
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { AuthErrors } from './auth-errors.js'

/** Who made a request, and what they may do. `disabled`: AUTH_DISABLED on loopback, every scope. */
export interface Principal {
  name: string
  scopes: readonly string[]
  via: 'token' | 'oidc' | 'session' | 'disabled'
  /** A person signed in through the provider: their groups, and how and when they last authenticated there. */
  person?: { groups: readonly string[]; amr: readonly string[]; authTime?: number; acr?: string }
}

// name:scope1+scope2:sha256hex, entries separated by commas (scopes may contain ':', as cache:admin does).
const TOKEN_NAME = '[A-Za-z0-9._@-]{1,64}'
const SCOPE = '[A-Za-z0-9._*-]+(?::[A-Za-z0-9._*-]+)*'
const TOKEN_ENTRY = `${TOKEN_NAME}:${SCOPE}(?:\\+${SCOPE})*:[0-9a-f]{64}`
export const AUTH_TOKENS_PATTERN = `^\\s*${TOKEN_ENTRY}\\s*(?:,\\s*${TOKEN_ENTRY}\\s*)*,?\\s*$`

export interface TokenEntry {
  name: string
  scopes: string[]
  /** SHA-256 of the token, lowercase hex. */
  hash: string
}

/** SHA-256 of a token, lowercase hex: the only form in which tokens are configured or stored. */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex')
}

/**
 * A new API token: `kms_`, the service it is for when given (`kms_upload_…`), and 256 random bits,
 * base64url. The name lets another service say whose token it was given, like GitHub's `ghp_` prefixes.
 */
export function generateToken(service?: string): string {
  if (service !== undefined && !/^[a-z][a-z0-9-]{1,31}$/.test(service)) throw new Error(`a token's service is lower-case letters, digits and -: ${service}`)
  return `kms_${service ? `${service}_` : ''}${randomBytes(32).toString('base64url')}`
}

/** The service a token was made for (`kms_upload_…` → upload), or undefined for tokens without one. */
export function tokenService(token: string): string | undefined {
  return /^kms_([a-z][a-z0-9-]{1,31})_[A-Za-z0-9_-]{43}$/.exec(token)?.[1]
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

// Asymmetric algorithms only: a JWKS holds public keys, so HS* and "none" never verify.
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']
const OIDC_FETCH_TIMEOUT_MS = 5_000

/** Names from a claim: a space-separated string (OAuth `scope`) or an array (`scp`, groups); dotted paths reach nested claims (realm_access.roles). */
export function scopesFromClaim(payload: JWTPayload, claim: string): string[] {
  let value: unknown = payload[claim]
  if (value === undefined && claim.includes('.')) {
    value = claim.split('.').reduce<unknown>((node, part) => (node && typeof node === 'object' && Object.hasOwn(node, part) ? (node as Record<string, unknown>)[part] : undefined), payload)
  }
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean)
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string')
  return []
}

export interface BearerJwtOptions {
  issuer: string
  /** The aud a JWT must carry (Cognito access tokens, which have none: their client_id). */
  audience: string
  jwksUrl?: string
  scopesClaim: string
  /** Only scopes with this prefix count, without it (Cognito: `<resource server>/<scope>`). */
  scopePrefix?: string
  /** Scopes a JWT's groups give (OIDC_GROUPS_CLAIM through OIDC_SCOPE_MAP), added to its own. */
  groupScopes?: (payload: JWTPayload) => string[]
  fetch?: typeof fetch
}

/** Verifies Bearer JWTs: access tokens of the issuer for this API, client-credentials tokens of scripts. */
export class BearerJwtVerifier {
  private keys: Promise<JWTVerifyGetKey> | undefined
  private readonly fetch: typeof fetch
  constructor(private readonly options: BearerJwtOptions) {
    this.fetch = options.fetch ?? fetch
  }

  private keySet(): Promise<JWTVerifyGetKey> {
    this.keys ??= this.jwksUrl().then((url) => createRemoteJWKSet(new URL(url), {
      timeoutDuration: OIDC_FETCH_TIMEOUT_MS,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
      [customFetch]: this.fetch,
    }))
    // A failed discovery is retried on the next request instead of being remembered.
    this.keys.catch(() => { this.keys = undefined })
    return this.keys
  }

  private async jwksUrl(): Promise<string> {
    if (this.options.jwksUrl) return this.options.jwksUrl
    const discovery = `${this.options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
    const response = await this.fetch(discovery, { signal: AbortSignal.timeout(OIDC_FETCH_TIMEOUT_MS), redirect: 'error' })
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
        issuer: this.options.issuer,
        algorithms: JWT_ALGORITHMS,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: 30,
      }))
    } catch (err) {
      throw oidcError(err)
    }
    // Cognito access tokens carry no aud but the app client's id in client_id.
    const audiences = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud]
    const audienceOk = payload.aud === undefined ? payload.client_id === this.options.audience : audiences.includes(this.options.audience)
    if (!audienceOk) throw new AuthErrors.INVALID_CREDENTIALS('the JWT is not for this audience (aud)')
    const prefix = this.options.scopePrefix
    const claimed = scopesFromClaim(payload, this.options.scopesClaim)
    const own = prefix ? claimed.filter((s) => s.startsWith(prefix) && s.length > prefix.length).map((s) => s.slice(prefix.length)) : claimed
    const scopes = [...new Set([...own, ...(this.options.groupScopes?.(payload) ?? [])])]
    return { name: String(payload.sub), scopes, via: 'oidc', expiresAt: (payload.exp as number) * 1000 }
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
