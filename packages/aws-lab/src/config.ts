// The lab process's configuration (`pnpm lab`, the lab image): the LAB_* variables (README
// "Configuration") checked and turned into startLab's options. The only module that reads process.env;
// a bad value is a LabConfigError naming the variable, which server.ts prints and exits 2 on.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LabOidcClient, LabOidcOptions } from './oidc/config.js'

/** The workspace's synthesized templates (`pnpm build` runs infra's `cdk synth`): what `pnpm lab` and the tests deploy. */
export const WORKSPACE_TEMPLATE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'infra', 'cdk.out')

export class LabConfigError extends Error {
  override name = 'LabConfigError'
}

export interface LabConfig {
  host: string
  port: number
  /** Where relative paths (LAB_DATA_DIR, --seed, the files named below) are taken from. */
  invokedFrom: string
  dataDir: string
  cloudTrailDelaySeconds: number
  imdsPortBase: number
  imdsAdvertisedHost?: string
  imdsCredentialsTtlSeconds: number
  imdsBind?: Record<string, string>
  imdsOwners?: Record<string, number>
  /** LAB_TLS on: HTTPS beside HTTP with these extra certificate names. */
  tls?: { hostnames: string[] }
  /** LAB_OIDC on (the default): the provider's options. */
  oidc?: LabOidcOptions
  /** LAB_TLS_CA_EXPORT, resolved: where to copy the CA certificate. */
  caExport?: string
  /** LAB_PROFILE_EXPORT, resolved: profile → the credentials file it alone is written to. */
  profileExports: Record<string, string>
  /** LAB_STACK_OUTPUTS_EXPORT, resolved: where each deployed stack's outputs are written, a file per output. */
  stackOutputsExport?: string
  /** LAB_TEMPLATE_DIR, resolved (default: the workspace's infra/cdk.out when it exists; `none`: deploy nothing). */
  templateDir?: string
}

/** `name=value,name=value` (`*` for the rest) into a record; a malformed entry names the variable. */
function instanceMap<T>(env: NodeJS.ProcessEnv, variable: string, parse: (value: string) => T | undefined): Record<string, T> | undefined {
  const text = env[variable]
  if (!text) return undefined
  const map: Record<string, T> = {}
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([\w*-]+)=(.+)$/.exec(entry)
    const value = m ? parse(m[2]) : undefined
    if (!m || value === undefined) throw new LabConfigError(`${variable} takes name=value entries separated by commas (* for the rest, where it applies), got ${JSON.stringify(entry)}`)
    map[m[1]] = value
  }
  return map
}

// The OpenID Provider, with the clients a start script (or a person) registered in a JSON file.
function oidcOptions(env: NodeJS.ProcessEnv, invokedFrom: string): LabOidcOptions {
  const clientsFile = env.LAB_OIDC_CLIENTS_FILE
  const ttl = Number(env.LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS || 600)
  if (!Number.isInteger(ttl) || ttl < 30 || ttl > 86_400) throw new LabConfigError(`LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS must be between 30 and 86400, got ${JSON.stringify(env.LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS)}`)
  let clients: LabOidcClient[] = []
  if (clientsFile) {
    try {
      clients = JSON.parse(readFileSync(resolve(invokedFrom, clientsFile), 'utf8')) as LabOidcClient[]
      if (!Array.isArray(clients)) throw new Error('not a JSON list')
    } catch (err) {
      throw new LabConfigError(`LAB_OIDC_CLIENTS_FILE ${clientsFile}: ${(err as Error).message}`)
    }
  }
  return { clients, accessTokenTtlSeconds: ttl, ...(env.LAB_OIDC_ISSUER ? { issuer: env.LAB_OIDC_ISSUER } : {}) }
}

/** The lab's configuration from `env` (default: this process's); throws LabConfigError on a bad value. */
export function loadLabConfig(env: NodeJS.ProcessEnv = process.env): LabConfig {
  const host = env.LAB_HOST || '127.0.0.1'
  const port = Number(env.LAB_PORT || 4566)
  // pnpm runs package scripts in the package folder; INIT_CWD is where the user typed `pnpm lab`.
  const invokedFrom = env.INIT_CWD || process.cwd()
  const cloudTrailDelaySeconds = Number(env.LAB_CLOUDTRAIL_DELAY_SECONDS || 0)
  if (!Number.isFinite(cloudTrailDelaySeconds) || cloudTrailDelaySeconds < 0) throw new LabConfigError(`LAB_CLOUDTRAIL_DELAY_SECONDS must be a number of seconds ≥ 0, got ${JSON.stringify(env.LAB_CLOUDTRAIL_DELAY_SECONDS)}`)

  // Instance metadata: one port per instance from the base, in seed order. The standard lab port gets the
  // standard metadata ports; a lab on any other port (tests, several labs at once) takes free ones.
  const imdsPortBase = Number(env.LAB_IMDS_PORT_BASE || (port === 4566 ? 4510 : 0))
  const imdsCredentialsTtlSeconds = Number(env.LAB_IMDS_CREDENTIALS_TTL_SECONDS || 21_600)
  if (!Number.isInteger(imdsPortBase) || imdsPortBase < 0 || imdsPortBase > 65_000) throw new LabConfigError(`LAB_IMDS_PORT_BASE must be a port number (0 = any free port), got ${JSON.stringify(env.LAB_IMDS_PORT_BASE)}`)
  if (!Number.isFinite(imdsCredentialsTtlSeconds) || imdsCredentialsTtlSeconds < 2 || imdsCredentialsTtlSeconds > 43_200) throw new LabConfigError(`LAB_IMDS_CREDENTIALS_TTL_SECONDS must be between 2 and 43200, got ${JSON.stringify(env.LAB_IMDS_CREDENTIALS_TTL_SECONDS)}`)
  const imdsBind = instanceMap(env, 'LAB_IMDS_BIND', (v) => v)
  const imdsOwners = instanceMap(env, 'LAB_IMDS_OWNERS', (v) => (/^\d+$/.test(v) ? Number(v) : undefined))

  // HTTPS beside HTTP on the same port, with the lab's own CA (SSE-KMS over plain HTTP is then refused, as in AWS).
  const tlsOn = /^(1|true|yes|on)$/i.test(env.LAB_TLS ?? '')
  const tlsHostnames = (env.LAB_TLS_HOSTNAMES ?? '').split(',').map((h) => h.trim()).filter(Boolean)
  const oidcOn = !/^(0|false|no|off)$/i.test(env.LAB_OIDC ?? '')
  // The synthesized templates the seed's stacks deploy from (`pnpm build` synthesizes infra into infra/cdk.out).
  const templateSetting = env.LAB_TEMPLATE_DIR
  const templateDir = templateSetting === 'none' ? undefined : templateSetting ? resolve(invokedFrom, templateSetting) : existsSync(WORKSPACE_TEMPLATE_DIR) ? WORKSPACE_TEMPLATE_DIR : undefined
  if (templateDir && !existsSync(templateDir)) throw new LabConfigError(`LAB_TEMPLATE_DIR ${templateDir} does not exist (pnpm --filter @kms-share/infra build synthesizes infra/cdk.out)`)
  const profileExports = Object.fromEntries(Object.entries(instanceMap(env, 'LAB_PROFILE_EXPORT', (v) => v) ?? {}).map(([profile, file]) => [profile, resolve(invokedFrom, file)]))

  return {
    host,
    port,
    invokedFrom,
    dataDir: resolve(invokedFrom, env.LAB_DATA_DIR || '.lab'),
    cloudTrailDelaySeconds,
    imdsPortBase,
    imdsAdvertisedHost: env.LAB_IMDS_HOST || undefined,
    imdsCredentialsTtlSeconds,
    imdsBind,
    imdsOwners,
    tls: tlsOn ? { hostnames: tlsHostnames } : undefined,
    ...(oidcOn ? { oidc: oidcOptions(env, invokedFrom) } : {}),
    ...(env.LAB_TLS_CA_EXPORT ? { caExport: resolve(invokedFrom, env.LAB_TLS_CA_EXPORT) } : {}),
    profileExports,
    ...(templateDir ? { templateDir } : {}),
    ...(env.LAB_STACK_OUTPUTS_EXPORT ? { stackOutputsExport: resolve(invokedFrom, env.LAB_STACK_OUTPUTS_EXPORT) } : {}),
  }
}
