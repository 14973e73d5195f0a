// The lab's OpenID Provider as its users configure it: constants and client metadata. Kept apart
// from provider.ts so that importing them does not load oidc-provider.

/** Where the provider is mounted on the lab's endpoint. */
export const OIDC_MOUNT_PATH = '/oidc'
/** The resource (audience) of client-credentials access tokens: the kms-share services' API. */
export const LAB_API_RESOURCE = 'urn:kms-share:api'
/** Scopes the API knows (what a client-credentials client may be given). */
export const LAB_API_SCOPES = ['upload', 'download', 'cache:admin', 'keys:read', 'keys:admin', 'audit:read']
/** acr values: a password alone, or a password and an authenticator code. */
export const ACR_PASSWORD = 'urn:kms-share:acr:pwd'
export const ACR_MFA = 'urn:kms-share:acr:mfa'

/** A client registered from configuration (RFC 7591 metadata names), its secret given, in a file, or made by the lab. */
export interface LabOidcClient {
  client_id: string
  client_name?: string
  client_secret?: string
  /** A file holding the secret (compose secrets, a service's own secret file). */
  client_secret_file?: string
  redirect_uris?: string[]
  post_logout_redirect_uris?: string[]
  /** Where the provider POSTs a logout token when the person signs out anywhere. */
  backchannel_logout_uri?: string
  /** Default: authorization_code and refresh_token; a script's client: client_credentials. */
  grant_types?: string[]
  /** For client credentials: the API scopes this client may ask for (space-separated). */
  scope?: string
}

export interface LabOidcOptions {
  clients?: LabOidcClient[]
  /** The issuer as browsers and services reach it, when not the lab's own endpoint (compose: https://lab.localhost:4566/oidc). */
  issuer?: string
  /** Access tokens (and so the services' refresh rhythm) last this long; default 600 s. */
  accessTokenTtlSeconds?: number
  /** A sign-in at the provider lasts this long; default 8 h. */
  sessionTtlSeconds?: number
}
