#!/usr/bin/env node
// A new API token for a service: prints the token (give it to the caller, once) and the
// AUTH_TOKENS entry holding only its SHA-256 hash (give that to the service).
// Usage: node scripts/auth-token.mjs NAME SCOPE[+SCOPE…]   e.g. node scripts/auth-token.mjs ci upload
import { createHash, randomBytes } from 'node:crypto'

const [name, scopes] = process.argv.slice(2)
if (!name || !scopes || !/^[A-Za-z0-9._@-]{1,64}$/.test(name) || !/^[A-Za-z0-9._*:-]+(\+[A-Za-z0-9._*:-]+)*$/.test(scopes)) {
  process.stderr.write('usage: node scripts/auth-token.mjs NAME SCOPE[+SCOPE…]  (scopes: upload, download, cache:admin …)\n')
  process.exit(2)
}
// Same format as @kms-share/shared's generateToken/hashToken (kms_, the service its scopes are for, 256 random bits; SHA-256 hex):
// a service given another's token can then say whose it is.
const first = scopes.split('+')[0]
const service = first === 'upload' ? 'upload' : first === 'download' || first === 'cache:admin' ? 'download' : /^(keys|audit):/.test(first) ? 'keyadmin' : undefined
const token = `kms_${service ? `${service}_` : ''}${randomBytes(32).toString('base64url')}`
const hash = createHash('sha256').update(token, 'utf8').digest('hex')
process.stdout.write(`token:       ${token}\nAUTH_TOKENS: ${name}:${scopes}:${hash}\n`)
