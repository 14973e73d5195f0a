// The services as OpenID Connect relying parties, with openid-client: the authorization code flow
// with PKCE, state and nonce; token refresh; RP-initiated logout; back-channel logout tokens
// verified with jose; and what a person may do, from their groups (OIDC_GROUPS_CLAIM) mapped to
// scopes (OIDC_SCOPE_MAP). Works with any standards-compliant provider (Cognito, Entra ID, Keycloak, the lab's).
import { readFileSync } from 'node:fs'
import * as client from 'openid-client'
import { createRemoteJWKSet, customFetch as joseCustomFetch, jwtVerify, type JWTVerifyGetKey } from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'
import { isLoopbackHost, JWT_ALGORITHMS } from './auth-bearer.js'

export const OIDC_TIMEOUT_SECONDS = 10
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout'

/** group → scopes, from `group=scope+scope,group=scope`. */
export type ScopeMap = Map<string, string[]>

export const DEFAULT_SCOPE_MAP = 'uploaders=upload,downloaders=download,keyadmins=keys:read+keys:admin,auditors=keys:read+audit:read,admins=keys:read+audit:read+cache:admin'
const GROUP = '[^=,+\\s]+'
const SCOPE_NAME = '[A-Za-z0-9._*:-]+'
export const SCOPE_MAP_PATTERN = `^\\s*(${GROUP}=${SCOPE_NAME}(\\+${SCOPE_NAME})*)(\\s*,\\s*${GROUP}=${SCOPE_NAME}(\\+${SCOPE_NAME})*)*\\s*$`

export function parseScopeMap(value: string): ScopeMap {
  const map: ScopeMap = new Map()
  for (const entry of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=')
    if (eq <= 0) throw new Error(`OIDC_SCOPE_MAP entry "${entry}" is not group=scope+scope`)
    const group = entry.slice(0, eq).trim()
    map.set(group, [...new Set([...(map.get(group) ?? []), ...entry.slice(eq + 1).split('+').map((s) => s.trim()).filter(Boolean)])])
  }
  return map
}

export function scopesForGroups(map: ScopeMap, groups: readonly string[]): string[] {
  return [...new Set(groups.flatMap((g) => map.get(g) ?? []))]
}

/** The groups that would give `scope` (for the page that says which group a person lacks). */
export function groupsGranting(map: ScopeMap, scope: string): string[] {
  return [...map].filter(([, scopes]) => scopes.includes(scope)).map(([group]) => group)
}

/**
 * fetch for talking to the provider: undici with the extra CA (OIDC_CA_FILE) when one is given, so a
 * service can trust a provider with a private CA (the lab's) without NODE_EXTRA_CA_CERTS.
 */
export function providerFetch(caFile: string | undefined): client.CustomFetch {
  if (!caFile) return (url: string, options: client.CustomFetchOptions) => fetch(url, options)
  const agent = new Agent({ connect: { ca: readFileSync(caFile) }, headersTimeout: OIDC_TIMEOUT_SECONDS * 1000, bodyTimeout: OIDC_TIMEOUT_SECONDS * 1000 })
  return (url: string, options: client.CustomFetchOptions) => undiciFetch(url, { ...(options as object), dispatcher: agent })
}

export interface RelyingPartyConfig {
  issuer: string
  clientId: string
  clientSecret: string
  scopes: string
  /** fetch towards the provider (providerFetch: with OIDC_CA_FILE trusted). */
  fetch: client.CustomFetch
}

export interface LoginTransaction {
  state: string
  nonce: string
  verifier: string
  /** Where to go after: a path on this service. */
  next: string
  /** Step-up: the sign-in must be fresh (max_age) and is checked for mfa. */
  maxAge?: number
}

export interface SignInResult {
  sub: string
  name: string
  claims: client.IDToken
  idToken: string
  accessToken: string
  refreshToken?: string
  accessExpiresAt: number
}

export class RelyingParty {
  private configuration: Promise<client.Configuration> | undefined
  private logoutKeys: JWTVerifyGetKey | undefined
  private readonly fetch: client.CustomFetch
  private readonly seenLogoutTokens = new Map<string, number>()

  constructor(readonly config: RelyingPartyConfig) {
    this.fetch = config.fetch
  }

  /** The provider's metadata, discovered once; a failed discovery is retried on the next sign-in. */
  discover(): Promise<client.Configuration> {
    if (!this.configuration) {
      const issuer = new URL(this.config.issuer)
      // http only for a provider on this machine (a local Keycloak, a test provider); anything else must be https.
      const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname)
      this.configuration = client.discovery(issuer, this.config.clientId, { client_secret: this.config.clientSecret }, client.ClientSecretBasic(this.config.clientSecret), {
        [client.customFetch]: this.fetch,
        timeout: OIDC_TIMEOUT_SECONDS,
        // ID token signatures are checked against the provider's JWKS even from the token endpoint (OIDC Core allows trusting TLS instead).
        execute: [client.enableNonRepudiationChecks, ...(insecure ? [client.allowInsecureRequests] : [])],
      })
      this.configuration.catch(() => { this.configuration = undefined })
    }
    return this.configuration
  }

  /** A new transaction and the provider URL that starts it. */
  async begin(redirectUri: string, next: string, stepUp?: { maxAge: number; acrValues?: string }): Promise<{ url: URL; transaction: LoginTransaction }> {
    const configuration = await this.discover()
    const transaction: LoginTransaction = { state: client.randomState(), nonce: client.randomNonce(), verifier: client.randomPKCECodeVerifier(), next, ...(stepUp ? { maxAge: stepUp.maxAge } : {}) }
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri,
      scope: this.config.scopes,
      state: transaction.state,
      nonce: transaction.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(transaction.verifier),
      code_challenge_method: 'S256',
      ...(stepUp ? { max_age: String(stepUp.maxAge), ...(stepUp.acrValues ? { acr_values: stepUp.acrValues } : {}) } : {}),
    })
    return { url, transaction }
  }

  /** The code for tokens: state, PKCE, nonce, the ID token's signature, iss, aud, exp, iat and auth_time (step-up) all checked by openid-client. */
  async complete(callbackUrl: URL, transaction: LoginTransaction): Promise<SignInResult> {
    const configuration = await this.discover()
    const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
      pkceCodeVerifier: transaction.verifier,
      expectedState: transaction.state,
      expectedNonce: transaction.nonce,
      idTokenExpected: true,
      ...(transaction.maxAge !== undefined ? { maxAge: transaction.maxAge } : {}),
    })
    return this.result(tokens)
  }

  async refresh(refreshToken: string): Promise<SignInResult & { claims: client.IDToken | undefined }> {
    const configuration = await this.discover()
    return this.result(await client.refreshTokenGrant(configuration, refreshToken), false)
  }

  private result(tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, idTokenRequired = true): SignInResult {
    const claims = tokens.claims()
    if (!claims && idTokenRequired) throw new Error('the provider returned no ID token')
    const sub = claims?.sub ?? ''
    const name = [claims?.preferred_username, claims?.email, claims?.name, sub].find((v): v is string => typeof v === 'string' && v.length > 0) ?? sub
    return {
      sub,
      name,
      claims: claims as client.IDToken,
      idToken: tokens.id_token ?? '',
      accessToken: tokens.access_token,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      // Without expires_in, an access token is assumed good for five minutes: the session then refreshes or ends.
      accessExpiresAt: Date.now() + (tokens.expiresIn() ?? 300) * 1000,
    }
  }

  /** The provider's end-session URL (RP-initiated logout), or undefined when it has none. */
  async endSessionUrl(idToken: string | undefined, postLogoutRedirectUri: string): Promise<URL | undefined> {
    const configuration = await this.discover()
    const endpoint = configuration.serverMetadata().end_session_endpoint
    if (!endpoint) return undefined
    // Cognito's /logout takes logout_uri where RP-Initiated Logout says post_logout_redirect_uri.
    const cognito: Record<string, string> = new URL(endpoint).hostname.endsWith('.amazoncognito.com') ? { logout_uri: postLogoutRedirectUri } : {}
    return client.buildEndSessionUrl(configuration, { ...(idToken ? { id_token_hint: idToken } : {}), post_logout_redirect_uri: postLogoutRedirectUri, client_id: this.config.clientId, ...cognito })
  }

  /** A back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6): answers the sid and/or sub whose sessions end. */
  async verifyLogoutToken(token: string): Promise<{ sid?: string; sub?: string }> {
    const configuration = await this.discover()
    const meta = configuration.serverMetadata()
    if (!meta.jwks_uri) throw new Error('the provider has no jwks_uri')
    this.logoutKeys ??= createRemoteJWKSet(new URL(meta.jwks_uri), { [joseCustomFetch]: this.fetch as never, timeoutDuration: OIDC_TIMEOUT_SECONDS * 1000 })
    const { payload } = await jwtVerify(token, this.logoutKeys, {
      issuer: meta.issuer,
      audience: this.config.clientId,
      algorithms: JWT_ALGORITHMS,
      requiredClaims: ['iat', 'jti', 'events'],
      maxTokenAge: '5m',
      clockTolerance: 30,
    })
    const events = payload.events as Record<string, unknown> | undefined
    if (!events || typeof events !== 'object' || !Object.hasOwn(events, BACKCHANNEL_EVENT)) throw new Error('not a logout token (events)')
    if ('nonce' in payload) throw new Error('a logout token carries no nonce')
    const sid = typeof payload.sid === 'string' ? payload.sid : undefined
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined
    if (!sid && !sub) throw new Error('a logout token names a sid or a sub')
    // Each logout token counts once (jti), remembered for as long as one could be accepted.
    const now = Date.now()
    for (const [jti, until] of this.seenLogoutTokens) if (until < now) this.seenLogoutTokens.delete(jti)
    if (this.seenLogoutTokens.has(String(payload.jti))) throw new Error('a logout token seen before (jti)')
    this.seenLogoutTokens.set(String(payload.jti), now + 6 * 60_000)
    return { ...(sid ? { sid } : {}), ...(sub ? { sub } : {}) }
  }
}
