#!/usr/bin/env node
// `pnpm lab`: config from LAB_* variables and flags → startLab → print how to use it → close on SIGTERM/SIGINT.
import { parseArgs } from 'node:util'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { startLab } from './app.js'
import { exportStackOutputs } from './cloudformation/deploy.js'
import { LabConfigError, loadLabConfig, type LabConfig } from './config.js'
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
  LAB_STACK_OUTPUTS_EXPORT (write each deployed stack's outputs to DIR/<stack>/<output>, for a container's NAME_FILE variables)
`)
  process.exit(0)
}

let config: LabConfig
try {
  config = loadLabConfig()
} catch (err) {
  if (!(err instanceof LabConfigError)) throw err
  process.stderr.write(`aws-lab: ${err.message}\n`)
  process.exit(2)
}
const { host, port, invokedFrom, dataDir, cloudTrailDelaySeconds, imdsPortBase, imdsCredentialsTtlSeconds, imdsBind, imdsOwners } = config
const seedFile = values.seed ? resolve(invokedFrom, values.seed) : undefined
if (imdsOwners && !(await (await import('./imds/connection-owner.js')).canReadSocketOwners())) {
  process.stderr.write('aws-lab: LAB_IMDS_OWNERS needs /proc/net/tcp (Linux) to tell who owns a connection\n')
  process.exit(2)
}

// A bug hit by one request answers that request 500; it never stops the lab (and with it `pnpm start`).
guardLabProcess((line) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), name: 'aws-lab', ...line })}\n`))

const lab = await startLab({
  dataDir,
  tls: config.tls,
  host,
  port,
  seedFile,
  reset: values.reset,
  defaultKeyPolicy: values['default-key-policy'],
  quiet: values.quiet,
  cloudTrailDelaySeconds,
  imdsPortBase,
  imdsAdvertisedHost: config.imdsAdvertisedHost,
  imdsCredentialsTtlSeconds,
  imdsBind,
  imdsOwners,
  ...(config.templateDir ? { deploy: { templateDir: config.templateDir } } : {}),
  ...(config.oidc ? { oidc: config.oidc } : {}),
})

// The CA certificate (public) where clients can trust it without reaching the lab's data folder (compose: a volume of its own).
if (config.caExport && lab.caFile) {
  mkdirSync(dirname(config.caExport), { recursive: true })
  copyFileSync(lab.caFile, config.caExport)
}

// The stacks' outputs, a file each, where a container reads them (compose: upload's KMS_KEY_ID_FILE).
if (config.stackOutputsExport) exportStackOutputs(lab.deployed, config.stackOutputsExport)

// One profile's keys alone, where one client reads them (compose: keyadmin's MFA user on a volume only the two mount).
for (const [profile, target] of Object.entries(config.profileExports)) {
  const keys = lab.profiles()[profile]
  if (!keys) {
    process.stderr.write(`aws-lab: LAB_PROFILE_EXPORT names ${profile}, which is not a profile of this lab (${Object.keys(lab.profiles()).join(', ')})\n`)
    process.exit(2)
  }
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
