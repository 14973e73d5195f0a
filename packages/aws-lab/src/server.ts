#!/usr/bin/env node
// `pnpm lab`: config from LAB_* variables and flags → startLab → print how to use it → close on SIGTERM/SIGINT.
import { parseArgs } from 'node:util'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { startLab, WORKSPACE_TEMPLATE_DIR } from './app.js'
import type { LabOidcClient, LabOidcOptions } from './oidc/config.js'
import { guardLabProcess } from './core/guard.js'

const { values } = parseArgs({
  options: {
    'seed': { type: 'string' },
    'reset': { type: 'boolean', default: false },
    'default-key-policy': { type: 'boolean', default: false },
    'quiet': { type: 'boolean', default: false },
    'help': { type: 'boolean', short: 'h', default: false },
  },
})

if (values.help) {
  process.stdout.write(`Usage: aws-lab [--seed FILE] [--reset] [--default-key-policy] [--quiet]
  --default-key-policy  on first start (or --reset), leave the seed's keys with AWS's default key policy (the workshop's starting point)
  LAB_HOST (127.0.0.1)  LAB_PORT (4566)  LAB_DATA_DIR (.lab)  LAB_CLOUDTRAIL_DELAY_SECONDS (0)
  LAB_IMDS_PORT_BASE (4510 with LAB_PORT 4566, else 0 = free ports)  LAB_IMDS_HOST (LAB_HOST)  LAB_IMDS_CREDENTIALS_TTL_SECONDS (21600)
  LAB_TLS (0; 1 = also HTTPS on the same port, CA in LAB_DATA_DIR/tls/ca.pem)  LAB_TLS_HOSTNAMES (extra certificate names, comma-separated)
  LAB_TLS_CA_EXPORT (also copy the CA certificate to this file, for clients that must not see LAB_DATA_DIR)
  LAB_OIDC (1; 0 = no OpenID Provider)  LAB_OIDC_CLIENTS_FILE (JSON list of clients: client_id, redirect_uris, …)
  LAB_OIDC_ISSUER (default <endpoint>/oidc)  LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS (600)
  LAB_IMDS_BIND (per-instance metadata listen address: uploader=10.0.1.2,*=127.0.0.1; default LAB_HOST)
  LAB_PROFILE_EXPORT (profile=file: also write that profile alone to a credentials file, for one client: userA=/data/keyadmin-mfa/credentials)
  LAB_IMDS_OWNERS (serve an instance's metadata only to local connections of a uid: uploader=64511,*=0; unlisted: the lab's uid)
  LAB_TEMPLATE_DIR (infra/cdk.out when it exists: deploy the seed's stacks from these templates at start; none = no deploy)
`)
  process.exit(0)
}

const host = process.env.LAB_HOST || '127.0.0.1'
const port = Number(process.env.LAB_PORT || 4566)
// pnpm runs package scripts in the package folder; INIT_CWD is where the user typed `pnpm lab`.
const invokedFrom = process.env.INIT_CWD || process.cwd()
const dataDir = resolve(invokedFrom, process.env.LAB_DATA_DIR || '.lab')
const seedFile = values.seed ? resolve(invokedFrom, values.seed) : undefined
// The synthesized templates the seed's stacks deploy from (`pnpm build` synthesizes infra into infra/cdk.out).
const templateSetting = process.env.LAB_TEMPLATE_DIR
const templateDir = templateSetting === 'none' ? undefined : templateSetting ? resolve(invokedFrom, templateSetting) : existsSync(WORKSPACE_TEMPLATE_DIR) ? WORKSPACE_TEMPLATE_DIR : undefined
if (templateDir && !existsSync(templateDir)) {
  process.stderr.write(`aws-lab: LAB_TEMPLATE_DIR ${templateDir} does not exist (pnpm --filter @kms-share/infra build synthesizes infra/cdk.out)\n`)
  process.exit(2)
}
const cloudTrailDelaySeconds = Number(process.env.LAB_CLOUDTRAIL_DELAY_SECONDS || 0)
if (!Number.isFinite(cloudTrailDelaySeconds) || cloudTrailDelaySeconds < 0) {
  process.stderr.write(`aws-lab: LAB_CLOUDTRAIL_DELAY_SECONDS must be a number of seconds ≥ 0, got ${JSON.stringify(process.env.LAB_CLOUDTRAIL_DELAY_SECONDS)}\n`)
  process.exit(2)
}

// Instance metadata: one port per instance from the base, in seed order. The standard lab port gets the
// standard metadata ports; a lab on any other port (tests, several labs at once) takes free ones.
const imdsPortBase = Number(process.env.LAB_IMDS_PORT_BASE || (port === 4566 ? 4510 : 0))
const imdsCredentialsTtlSeconds = Number(process.env.LAB_IMDS_CREDENTIALS_TTL_SECONDS || 21_600)
if (!Number.isInteger(imdsPortBase) || imdsPortBase < 0 || imdsPortBase > 65_000) {
  process.stderr.write(`aws-lab: LAB_IMDS_PORT_BASE must be a port number (0 = any free port), got ${JSON.stringify(process.env.LAB_IMDS_PORT_BASE)}\n`)
  process.exit(2)
}
if (!Number.isFinite(imdsCredentialsTtlSeconds) || imdsCredentialsTtlSeconds < 2 || imdsCredentialsTtlSeconds > 43_200) {
  process.stderr.write(`aws-lab: LAB_IMDS_CREDENTIALS_TTL_SECONDS must be between 2 and 43200, got ${JSON.stringify(process.env.LAB_IMDS_CREDENTIALS_TTL_SECONDS)}\n`)
  process.exit(2)
}

/** `name=value,name=value` (`*` for the rest) into a record; exits with the variable named on a malformed entry. */
function instanceMap<T>(variable: string, parse: (value: string) => T | undefined): Record<string, T> | undefined {
  const text = process.env[variable]
  if (!text) return undefined
  const map: Record<string, T> = {}
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([\w*-]+)=(.+)$/.exec(entry)
    const value = m ? parse(m[2]) : undefined
    if (!m || value === undefined) {
      process.stderr.write(`aws-lab: ${variable} takes name=value entries separated by commas (* for the rest, where it applies), got ${JSON.stringify(entry)}\n`)
      process.exit(2)
    }
    map[m[1]] = value
  }
  return map
}
const imdsBind = instanceMap('LAB_IMDS_BIND', (v) => v)
const imdsOwners = instanceMap('LAB_IMDS_OWNERS', (v) => (/^\d+$/.test(v) ? Number(v) : undefined))
if (imdsOwners && !(await (await import('./imds/connection-owner.js')).canReadSocketOwners())) {
  process.stderr.write('aws-lab: LAB_IMDS_OWNERS needs /proc/net/tcp (Linux) to tell who owns a connection\n')
  process.exit(2)
}

// HTTPS beside HTTP on the same port, with the lab's own CA (SSE-KMS over plain HTTP is then refused, as in AWS).
const tlsOn = /^(1|true|yes|on)$/i.test(process.env.LAB_TLS ?? '')
const tlsHostnames = (process.env.LAB_TLS_HOSTNAMES ?? '').split(',').map((h) => h.trim()).filter(Boolean)

// The OpenID Provider, with the clients a start script (or a person) registered in a JSON file.
const oidcOn = !/^(0|false|no|off)$/i.test(process.env.LAB_OIDC ?? '')
function oidcOptions(): LabOidcOptions {
  const clientsFile = process.env.LAB_OIDC_CLIENTS_FILE
  const ttl = Number(process.env.LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS || 600)
  if (!Number.isInteger(ttl) || ttl < 30 || ttl > 86_400) {
    process.stderr.write(`aws-lab: LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS must be between 30 and 86400, got ${JSON.stringify(process.env.LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS)}\n`)
    process.exit(2)
  }
  let clients: LabOidcClient[] = []
  if (clientsFile) {
    try {
      clients = JSON.parse(readFileSync(resolve(invokedFrom, clientsFile), 'utf8')) as LabOidcClient[]
      if (!Array.isArray(clients)) throw new Error('not a JSON list')
    } catch (err) {
      process.stderr.write(`aws-lab: LAB_OIDC_CLIENTS_FILE ${clientsFile}: ${(err as Error).message}\n`)
      process.exit(2)
    }
  }
  return { clients, accessTokenTtlSeconds: ttl, ...(process.env.LAB_OIDC_ISSUER ? { issuer: process.env.LAB_OIDC_ISSUER } : {}) }
}

// A bug hit by one request answers that request 500; it never stops the lab (and with it `pnpm start`).
guardLabProcess((line) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), name: 'aws-lab', ...line })}\n`))

const lab = await startLab({
  dataDir,
  tls: tlsOn ? { hostnames: tlsHostnames } : undefined,
  host,
  port,
  seedFile,
  reset: values.reset,
  defaultKeyPolicy: values['default-key-policy'],
  quiet: values.quiet,
  cloudTrailDelaySeconds,
  imdsPortBase,
  imdsAdvertisedHost: process.env.LAB_IMDS_HOST || undefined,
  imdsCredentialsTtlSeconds,
  imdsBind,
  imdsOwners,
  ...(templateDir ? { deploy: { templateDir } } : {}),
  ...(oidcOn ? { oidc: oidcOptions() } : {}),
})

// The CA certificate (public) where clients can trust it without reaching the lab's data folder (compose: a volume of its own).
const caExport = process.env.LAB_TLS_CA_EXPORT
if (caExport && lab.caFile) {
  mkdirSync(dirname(resolve(invokedFrom, caExport)), { recursive: true })
  copyFileSync(lab.caFile, resolve(invokedFrom, caExport))
}

// One profile's keys alone, where one client reads them (compose: keyadmin's MFA user on a volume only the two mount).
for (const [profile, file] of Object.entries(instanceMap('LAB_PROFILE_EXPORT', (v) => v) ?? {})) {
  const keys = lab.profiles()[profile]
  if (!keys) {
    process.stderr.write(`aws-lab: LAB_PROFILE_EXPORT names ${profile}, which is not a profile of this lab (${Object.keys(lab.profiles()).join(', ')})\n`)
    process.exit(2)
  }
  const target = resolve(invokedFrom, file)
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, `[${profile}]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n${keys.sessionToken ? `aws_session_token = ${keys.sessionToken}\n` : ''}`, { mode: 0o600 })
  chmodSync(target, 0o600)
}

const env = `AWS_SHARED_CREDENTIALS_FILE=${lab.credentialsFile} AWS_CONFIG_FILE=${lab.configFile}${lab.caFile ? ` AWS_CA_BUNDLE=${lab.caFile}` : ''}`
const mfaFiles = existsSync(lab.mfaDir) ? readdirSync(lab.mfaDir).filter((f) => f.endsWith('.otpauth')) : []
const mfa = mfaFiles.length ? mfaFiles.map((f) => join(lab.mfaDir, f)).join(', ') : '(none)'
const people = lab.oidc ? lab.oidc.people().map((p) => `${p.username} (${p.groups.join(', ') || 'no groups'}${p.mfa ? ', TOTP' : ''})`).join(', ') : ''
const oidcLines = lab.oidc
  ? `  OIDC issuer: ${lab.oidc.issuer}
  people:      ${people}
               passwords and TOTP seeds: ${lab.oidc.peopleFile}
`
  : ''
const transport = lab.caFile ? `https and http on one port; CA ${lab.caFile} (AWS_CA_BUNDLE / NODE_EXTRA_CA_CERTS)` : 'plain http'
// AWS refuses SSE-KMS over plain HTTP; a lab without TLS cannot, so it says once that it breaks that rule.
const plainHttpNote = lab.caFile ? '' : '  note:        without TLS this lab accepts SSE-KMS over plain HTTP, which AWS refuses (400 InvalidArgument); LAB_TLS=1 refuses it as AWS does\n'
process.stdout.write(`aws-lab listening on ${lab.endpoint} (account ${lab.accountId}, region ${lab.region}; ${transport})
  data:        ${lab.dataDir}
  credentials: ${lab.credentialsFile}
  config:      ${lab.configFile}
  MFA URIs:    ${mfa}
  profiles:    ${Object.keys(lab.profiles()).join(', ')}
  endpoints:   ${lab.endpointsFile}
${plainHttpNote}${oidcLines}${lab.instances().map((i) => `  instance ${i.name.padEnd(10)} ${i.instanceId}  ${(i.role ?? '(no role)').padEnd(28)} AWS_EC2_METADATA_SERVICE_ENDPOINT=${i.metadataEndpoint}`).join('\n')}
try:
  ${env} /usr/bin/aws --profile workshop --endpoint-url ${lab.endpoint} kms list-aliases
`)

let stopping = false
const stop = async (signal: string) => {
  if (stopping) return
  stopping = true
  process.stderr.write(`aws-lab: ${signal}, closing\n`)
  const timer = setTimeout(() => process.exit(1), 10_000)
  timer.unref()
  await lab.close()
  process.exit(0)
}
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGINT', () => void stop('SIGINT'))
