// The provider's own secrets, made once and kept in $LAB_DATA_DIR/oidc (0600 in a 0700 folder): its
// signing keys (a private JWKS: RS256, which every relying party supports) and the keys that sign
// its cookies; and the secrets of clients whose configuration names none.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JWK } from 'oidc-provider'
import { writeFileAtomic } from '../core/store.js'

export interface ProviderKeys {
  jwks: { keys: JWK[] }
  cookieKeys: string[]
}

function readJson<T>(file: string): T | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined
}

export function providerKeys(dir: string): ProviderKeys {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, 'keys.json')
  const existing = readJson<ProviderKeys>(file)
  if (existing?.jwks?.keys?.length && existing.cookieKeys?.length) return existing
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }
  const keys: ProviderKeys = { jwks: { keys: [jwk] }, cookieKeys: [randomBytes(32).toString('base64url')] }
  writeFileAtomic(file, `${JSON.stringify(keys, null, 2)}\n`, 0o600)
  return keys
}

/** A client's secret from the lab's store, made on first use (for clients configured without one). */
export function storedClientSecret(dir: string, clientId: string): string {
  const file = join(dir, 'client-secrets.json')
  const secrets = readJson<Record<string, string>>(file) ?? {}
  if (Object.hasOwn(secrets, clientId)) return secrets[clientId]
  secrets[clientId] = randomBytes(32).toString('base64url')
  writeFileAtomic(file, `${JSON.stringify(secrets, null, 2)}\n`, 0o600)
  return secrets[clientId]
}
