// The lab's OpenID Provider: oidc-provider (a certified OP) mounted at <lab endpoint>/oidc, with
// storage in the lab's data folder, its own keys, its own sign-in pages (devInteractions off) and
// the lab's people. Authorization code with PKCE (required), refresh tokens, RP-initiated logout
// with back-channel logout to every client of the session, client credentials (JWT access tokens
// for the kms-share API) for scripts. TOTP where a person has a device, and then amr says mfa.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import Provider, { type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider'
import type { FileStateStore } from '../core/store.js'
import { totpStep } from '../sts/model.js'
import { fileAdapterFactory } from './adapter.js'
import { providerKeys, storedClientSecret } from './keys.js'
import { errorPage, loginPage, PAGE_CSP, SIGN_OUT_SCRIPT_CSP, signedOutPage, signOutPage, totpPage } from './pages.js'
import { loadPeople, passwordMatches, seedPeople, type IamMfaSeed, type Person } from './people.js'
import { ACR_MFA, ACR_PASSWORD, LAB_API_RESOURCE, LAB_API_SCOPES, OIDC_MOUNT_PATH, type LabOidcOptions } from './config.js'

export type { LabOidcClient, LabOidcOptions } from './config.js'

export interface LabOidc {
  issuer: string
  /** $LAB_DATA_DIR/oidc/people.json: names, groups, passwords, TOTP seeds (0600). */
  peopleFile: string
  people(): Array<{ username: string; groups: string[]; mfa: boolean }>
  /** Each client's secret (given, read from its file, or made by the lab). */
  clientSecret(clientId: string): string | undefined
  /** Whether a request belongs to the provider (its path is under /oidc). */
  handles(url: string | undefined): boolean
  handle(req: IncomingMessage, res: ServerResponse): void
}

interface StartOidcInput {
  dataDir: string
  store: FileStateStore
  /** The lab's endpoint as clients reach it (https://host:port). */
  endpoint: string
  /** Whether the lab serves TLS: then the provider answers only over https. */
  tls: boolean
  seedFile: string | undefined
  iamMfaSeed: IamMfaSeed
  options: LabOidcOptions
  log: (line: Record<string, unknown>) => void
}

/** What a sign-in may be granted (never an API scope: those come from the person's groups at each service). */
const PERSON_SCOPES = ['openid', 'offline_access', 'profile']
const MAX_FORM_BYTES = 8 * 1024
const PENDING_TOTP_MS = 5 * 60_000
const MAX_FAILURES = 5
const LOCK_MS = 30_000

class PlainError extends Error {}

/** What a person sees for a provider error: what to do, never the protocol's words. */
function plainMessage(error: string | undefined, description: string | undefined): string {
  if (/interaction session|session not found|cookie/i.test(description ?? '')) return 'This sign-in page has expired or was opened in another browser.'
  switch (error) {
    case 'invalid_client':
    case 'invalid_redirect_uri':
    case 'unauthorized_client':
    case 'invalid_request':
    case 'unsupported_response_type':
    case 'invalid_scope':
      return 'The service that sent you here asked for something this sign-in service cannot do. Tell whoever runs kms-share.'
    case 'access_denied':
      return 'Sign-in was cancelled.'
    default:
      return 'Something went wrong while signing you in.'
  }
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '')
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new PlainError('The form could not be read.')
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_FORM_BYTES) throw new PlainError('The form is too large.')
    chunks.push(chunk as Buffer)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

function sendHtml(res: ServerResponse, status: number, html: string, csp = PAGE_CSP): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
  }).end(html)
}

export function startOidc(input: StartOidcInput): LabOidc {
  const { options, log } = input
  const dir = join(input.dataDir, 'oidc')
  const issuer = options.issuer ?? `${input.endpoint}${OIDC_MOUNT_PATH}`
  if (new URL(issuer).pathname !== OIDC_MOUNT_PATH) throw new Error(`the OIDC issuer must end in ${OIDC_MOUNT_PATH} (the provider's path on the lab): ${issuer}`)
  const origin = new URL(issuer).origin
  const keys = providerKeys(dir)
  const people = loadPeople(dir, issuer, seedPeople(input.seedFile), input.iamMfaSeed)
  const byName = new Map(people.map((p) => [p.username, p]))
  const accessTtl = options.accessTokenTtlSeconds ?? 600
  const sessionTtl = options.sessionTtlSeconds ?? 8 * 3600

  const secrets = new Map<string, string>()
  const clients: ClientMetadata[] = (options.clients ?? []).map((c) => {
    const secret = c.client_secret ?? (c.client_secret_file ? readFileSync(c.client_secret_file, 'utf8').trim() : storedClientSecret(dir, c.client_id))
    secrets.set(c.client_id, secret)
    const grantTypes = c.grant_types ?? ['authorization_code', 'refresh_token']
    const code = grantTypes.includes('authorization_code')
    return {
      client_id: c.client_id,
      client_secret: secret,
      client_name: c.client_name ?? c.client_id,
      grant_types: grantTypes,
      response_types: code ? ['code'] : [],
      redirect_uris: c.redirect_uris ?? [],
      ...(c.post_logout_redirect_uris ? { post_logout_redirect_uris: c.post_logout_redirect_uris } : {}),
      ...(c.backchannel_logout_uri ? { backchannel_logout_uri: c.backchannel_logout_uri, backchannel_logout_session_required: true } : {}),
      ...(c.scope ? { scope: c.scope } : {}),
      token_endpoint_auth_method: 'client_secret_basic',
    }
  })

  const configuration: Configuration = {
    adapter: fileAdapterFactory(input.store),
    clients,
    jwks: keys.jwks,
    cookies: {
      keys: keys.cookieKeys,
      // Only under /oidc: the services on the same host (other ports) never receive the provider's cookies.
      long: { httpOnly: true, sameSite: 'lax', path: OIDC_MOUNT_PATH },
      short: { httpOnly: true, sameSite: 'lax', path: OIDC_MOUNT_PATH },
    },
    pkce: { required: () => true },
    acrValues: [ACR_PASSWORD, ACR_MFA],
    // The API's scopes are listed so a script's client may be registered with them (client credentials only).
    scopes: [...PERSON_SCOPES, ...LAB_API_SCOPES],
    // groups with openid, as Cognito puts cognito:groups in every ID token; acr, amr and auth_time in every one too (RFC 9470 step-up reads them).
    claims: { openid: ['sub', 'groups', 'acr', 'amr', 'auth_time'], profile: ['name', 'preferred_username'], sid: null, iss: null },
    // Claims in the ID token itself (as Cognito, Entra ID and Keycloak do), not only from userinfo.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx: KoaContextWithOIDC, form: string) => {
          const client = ctx.oidc.client
          const automatic = Boolean(client && ctx.oidc.entities.IdTokenHint)
          ctx.type = 'html'
          ctx.set('content-security-policy', automatic ? SIGN_OUT_SCRIPT_CSP : PAGE_CSP)
          ctx.body = signOutPage(form, client?.clientName ?? client?.clientId, automatic)
        },
        postLogoutSuccessSource: async (ctx: KoaContextWithOIDC) => {
          ctx.type = 'html'
          ctx.set('content-security-policy', PAGE_CSP)
          ctx.body = signedOutPage(ctx.oidc.client?.clientName)
        },
      },
      resourceIndicators: {
        enabled: true,
        // Client credentials are for the kms-share API; sign-ins get tokens for the provider itself (userinfo).
        defaultResource: async (ctx: KoaContextWithOIDC) => (ctx.oidc.params?.grant_type === 'client_credentials' ? LAB_API_RESOURCE : undefined),
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx: KoaContextWithOIDC, resource: string) => {
          if (resource !== LAB_API_RESOURCE) throw new Error(`unknown resource ${resource}`)
          return { scope: LAB_API_SCOPES.join(' '), audience: LAB_API_RESOURCE, accessTokenFormat: 'jwt', accessTokenTTL: accessTtl, jwt: { sign: { alg: 'RS256' } } }
        },
      },
    },
    // The services are first-party: a sign-in grants what they ask without a consent page.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { client, session } = ctx.oidc
      if (!client || !session?.accountId) return undefined
      const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId)
      const grant = (grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined)
        ?? new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId })
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].filter((s) => PERSON_SCOPES.includes(s)).join(' '))
      await grant.save()
      return grant
    },
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: async (_ctx: KoaContextWithOIDC, sub: string) => {
      const person = byName.get(sub)
      if (!person) return undefined
      return {
        accountId: sub,
        claims: async () => ({ sub, name: person.name, preferred_username: person.username, groups: [...person.groups] }),
      }
    },
    interactions: { url: async (_ctx: KoaContextWithOIDC, interaction) => `${OIDC_MOUNT_PATH}/interaction/${interaction.uid}` },
    renderError: async (ctx: KoaContextWithOIDC, out) => {
      ctx.type = 'html'
      ctx.set('content-security-policy', PAGE_CSP)
      ctx.body = errorPage(plainMessage(out.error, out.error_description))
    },
    ttl: {
      AccessToken: accessTtl,
      ClientCredentials: accessTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: sessionTtl,
      Interaction: 15 * 60,
      Session: sessionTtl,
      Grant: sessionTtl,
    },
    // Back-channel logout goes to the services the configuration names, which live on this machine or its network.
    fetch: (url: string | URL | Request, init?: RequestInit) => {
      const { dispatcher: _ssrfGuard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown }
      return fetch(url, rest)
    },
  }

  const provider = new Provider(issuer, configuration)
  provider.on('server_error', (_ctx: unknown, err: Error) => log({ level: 'error', msg: 'oidc: server error', err: String(err.stack ?? err) }))
  provider.on('backchannel.error', (_ctx: unknown, err: Error, client: { clientId: string }) => log({ level: 'warn', msg: 'oidc: back-channel logout failed', client: client.clientId, err: err.message }))
  provider.on('backchannel.success', (_ctx: unknown, client: { clientId: string }) => log({ level: 'info', msg: 'oidc: back-channel logout delivered', client: client.clientId }))
  const callback = provider.callback()

  // Sign-in state between the password and the code, and failed attempts per person (both in memory).
  const pendingTotp = new Map<string, { username: string; until: number; tries: number }>()
  const failures = new Map<string, { count: number; lockedUntil: number }>()
  const usedSteps = new Map<string, number>()

  const locked = (username: string): boolean => (failures.get(username)?.lockedUntil ?? 0) > Date.now()
  const failed = (username: string) => {
    const entry = failures.get(username) ?? { count: 0, lockedUntil: 0 }
    entry.count++
    if (entry.count >= MAX_FAILURES) {
      entry.count = 0
      entry.lockedUntil = Date.now() + LOCK_MS
    }
    failures.set(username, entry)
  }

  async function finishLogin(req: IncomingMessage, res: ServerResponse, person: Person, mfa: boolean) {
    failures.delete(person.username)
    log({ level: 'info', msg: 'oidc: signed in', person: person.username, mfa })
    await provider.interactionFinished(req, res, {
      login: { accountId: person.username, amr: mfa ? ['pwd', 'otp', 'mfa'] : ['pwd'], acr: mfa ? ACR_MFA : ACR_PASSWORD, remember: true },
    }, { mergeWithLastSubmission: false })
  }

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string, step: string | undefined) {
    const details = await provider.interactionDetails(req, res)
    if (details.uid !== uid) throw new PlainError('This sign-in page has expired or was opened in another browser.')
    const client = await provider.Client.find(String(details.params.client_id))
    const clientName = client?.clientName ?? String(details.params.client_id)
    const base = `${OIDC_MOUNT_PATH}/interaction/${uid}`
    const known = details.session?.accountId
    const login = (error?: string, status = 200) => sendHtml(res, status, loginPage({ action: `${base}/login`, abortAction: `${base}/abort`, clientName, username: known, reauth: Boolean(known), error }))
    const totp = (username: string, error?: string, status = 200) => sendHtml(res, status, totpPage({ action: `${base}/totp`, abortAction: `${base}/abort`, username, error }))

    if (req.method === 'GET' && step === undefined) {
      if (details.prompt.name === 'login') return login()
      // Consent for a first-party client: loadExistingGrant has granted it already; carry on.
      const grant = await provider.Grant.find(String(details.grantId ?? '')) ?? new provider.Grant({ clientId: String(details.params.client_id), accountId: String(known) })
      const asked = typeof details.params.scope === 'string' ? details.params.scope : 'openid'
      grant.addOIDCScope(asked.split(' ').filter((s) => PERSON_SCOPES.includes(s)).join(' '))
      return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true })
    }
    if (req.method !== 'POST') throw new PlainError('This sign-in page has expired or was opened in another browser.')
    // A form on another site cannot post here: the interaction cookie is SameSite=Lax, and the Origin must be ours
    // (the pages' referrer policy is same-origin: with no-referrer a browser would send Origin: null).
    const from = req.headers.origin
    if (typeof from === 'string' && from !== origin) throw new PlainError('The form was sent from another site.')
    const form = await readForm(req)

    if (step === 'abort') {
      pendingTotp.delete(uid)
      return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The person cancelled the sign-in.' }, { mergeWithLastSubmission: false })
    }
    if (step === 'login') {
      const username = (known ?? form.get('username') ?? '').trim()
      const password = form.get('password') ?? ''
      if (!username || !password) return login('Enter your user name and password.', 400)
      if (locked(username)) return login('Too many attempts. Wait 30 seconds, then try again.', 429)
      const person = byName.get(username)
      if (!person || !passwordMatches(person, password)) {
        failed(username)
        return login('The user name or password is not right.', 401)
      }
      if (!person.totpSecret) return finishLogin(req, res, person, false)
      pendingTotp.set(uid, { username, until: Date.now() + PENDING_TOTP_MS, tries: 0 })
      return totp(username)
    }
    if (step === 'totp') {
      const pending = pendingTotp.get(uid)
      if (!pending || pending.until < Date.now()) {
        pendingTotp.delete(uid)
        return login('That took too long. Sign in again.', 400)
      }
      const person = byName.get(pending.username)
      const code = (form.get('code') ?? '').replace(/\s+/g, '')
      if (!person?.totpSecret) return login('Sign in again.', 400)
      if (!/^\d{6}$/.test(code)) return totp(person.username, 'Enter the 6 digits your authenticator app shows.', 400)
      const stepNumber = totpStep(person.totpSecret, code)
      // Each code counts once: a code seen over someone's shoulder is no use after it was entered.
      if (stepNumber === undefined || stepNumber <= (usedSteps.get(person.username) ?? -1)) {
        pending.tries++
        if (pending.tries >= MAX_FAILURES) {
          pendingTotp.delete(uid)
          failed(person.username)
          return login('Too many wrong codes. Sign in again.', 401)
        }
        return totp(person.username, stepNumber === undefined ? 'That code is not right. Enter the code your app shows now.' : 'That code was used already. Wait for the next one.', 401)
      }
      usedSteps.set(person.username, stepNumber)
      pendingTotp.delete(uid)
      return finishLogin(req, res, person, true)
    }
    throw new PlainError('This sign-in page has expired or was opened in another browser.')
  }

  const INTERACTION = new RegExp(`^${OIDC_MOUNT_PATH}/interaction/([A-Za-z0-9_-]{1,64})(?:/(login|totp|abort))?/?(?:\\?.*)?$`)

  return {
    issuer,
    peopleFile: join(dir, 'people.json'),
    people: () => people.map((p) => ({ username: p.username, groups: [...p.groups], mfa: Boolean(p.totpSecret) })),
    clientSecret: (clientId) => secrets.get(clientId),
    handles: (url) => url !== undefined && (url === OIDC_MOUNT_PATH || url.startsWith(`${OIDC_MOUNT_PATH}/`) || url.startsWith(`${OIDC_MOUNT_PATH}?`)),
    handle(req, res) {
      // The provider speaks https only when the lab has TLS: a sign-in never crosses the network in clear.
      if (input.tls && !(req.socket as TLSSocket).encrypted) {
        res.writeHead(308, { location: `${origin}${req.url ?? ''}` }).end()
        return
      }
      const url = req.url ?? ''
      const match = INTERACTION.exec(url)
      if (match) {
        interaction(req, res, match[1], match[2]).catch((err: unknown) => {
          if (!(err instanceof PlainError)) log({ level: 'warn', msg: 'oidc: interaction failed', err: String((err as Error)?.message ?? err) })
          if (res.headersSent) return void res.destroy()
          sendHtml(res, 400, errorPage(err instanceof PlainError ? err.message : plainMessage(undefined, (err as Error)?.message)))
        })
        return
      }
      // oidc-provider finds its mount path from originalUrl (as under Express).
      const mounted = req as IncomingMessage & { originalUrl?: string }
      mounted.originalUrl = url
      req.url = url.slice(OIDC_MOUNT_PATH.length) || '/'
      void callback(req, res)
    },
  }
}
