#!/usr/bin/env node
// The secrets docker-compose.yml mounts, written into .secrets/ (0700) next to it: each service's
// API token hashes, session secret and OIDC client secret (the lab's provider mounts those too), the Redis ACL file (password hashes only) and each audit
// user's Redis URL, and the audit worker's Ed25519 key pair. The plaintext tokens, for people, go to
// .secrets/tokens.json (0600). Files a container mounts are 0644 inside the 0700 folder: compose
// bind-mounts them as they are, and a container's user is not the host's. Existing files are kept
// (tokens stay valid across runs) unless --force. Usage: node scripts/compose-secrets.mjs [--force] [DIR]
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const force = args.includes('--force')
const dir = resolve(args.find((a) => !a.startsWith('--')) ?? join(root, '.secrets'))
const { AUDIT_REDIS_USERS, auditRedisAclFile, auditRedisUrl, formatTokenEntry, generateToken, hashToken } = await import(join(root, 'packages/shared/dist/index.js'))

mkdirSync(dir, { recursive: true, mode: 0o700 })
chmodSync(dir, 0o700)
const written = []
/** Writes `name` unless it exists (or --force); returns its content either way. */
function secret(name, make, mode = 0o644) {
  const file = join(dir, name)
  if (existsSync(file) && !force) return readFileSync(file, 'utf8')
  const content = make()
  writeFileSync(file, content, { mode })
  chmodSync(file, mode)
  written.push(name)
  return content
}

const scopes = { upload: ['upload'], download: ['download', 'cache:admin'], keyadmin: ['keys:read', 'keys:admin', 'audit:read'] }
const tokens = JSON.parse(secret('tokens.json', () => JSON.stringify(Object.fromEntries(Object.entries(scopes).map(([s, sc]) => [s, { name: `compose-${s}`, scopes: sc, token: generateToken() }])), null, 2) + '\n', 0o600))
for (const [service, entry] of Object.entries(tokens)) {
  secret(`${service}-auth-tokens`, () => formatTokenEntry(entry.name, entry.scopes, hashToken(entry.token)))
  secret(`${service}-session-secret`, () => randomBytes(48).toString('base64url'))
  // Its client secret at the lab's OpenID Provider: mounted by the lab (packages/aws-lab/seed/compose-oidc-clients.json) and this service.
  secret(`${service}-oidc-client-secret`, () => randomBytes(32).toString('base64url'))
}

// Redis: one password per audit user; the ACL file holds their SHA-256 hashes, each service its own URL.
const passwords = JSON.parse(secret('redis-passwords.json', () => JSON.stringify({ producer: randomBytes(24).toString('base64url'), worker: randomBytes(24).toString('base64url'), reader: randomBytes(24).toString('base64url') }) + '\n', 0o600))
// The healthcheck user may PING and nothing else (compose's redis healthcheck).
secret('redis.acl', () => `${auditRedisAclFile(passwords)}user healthcheck on nopass resetkeys resetchannels -@all +ping\n`)
const urlFor = { upload: 'producer', worker: 'worker', keyadmin: 'reader' }
for (const [service, role] of Object.entries(urlFor)) secret(`${service}-redis-url`, () => auditRedisUrl('redis:6379', role, passwords[role]))

// The audit worker signs verdicts with the private key; keyadmin checks them with the public one.
if (!existsSync(join(dir, 'audit-signing-key.pem')) || force) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  secret('audit-signing-key.pem', () => privateKey.export({ type: 'pkcs8', format: 'pem' }))
  secret('audit-verify-key.pem', () => publicKey.export({ type: 'spki', format: 'pem' }))
}

const fingerprint = createHash('sha256').update(readFileSync(join(dir, 'audit-verify-key.pem'))).digest('hex').slice(0, 16)
process.stdout.write(`${written.length ? `wrote ${written.join(', ')}` : 'kept every secret'} in ${dir}
  tokens for people: ${join(dir, 'tokens.json')} (0600), e.g. UPLOAD_TOKEN=$(node -p "require('${join(dir, 'tokens.json')}').upload.token")
  redis users: ${Object.values(AUDIT_REDIS_USERS).join(', ')}, healthcheck (PING only); audit key ${fingerprint}
`)
