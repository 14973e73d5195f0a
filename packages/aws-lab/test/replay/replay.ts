// The replay corpus's machinery: runs a case's calls against a lab with the AWS SDK v3, turns each
// answer (or error) into the shape LocalStack's snapshots record from boto3, and compares it with
// what AWS answered, after normalising ids, ARNs and dates as the snapshots' transformers do.
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto'
import * as ec2Sdk from '@aws-sdk/client-ec2'
import * as iamSdk from '@aws-sdk/client-iam'
import * as kmsSdk from '@aws-sdk/client-kms'
import * as s3Sdk from '@aws-sdk/client-s3'
import * as stsSdk from '@aws-sdk/client-sts'

/** One call of a case: `kms.CreateKey` with its input; `as` names the answer for later calls. */
export interface Step {
  call: string
  input?: unknown
  as?: string
  /** A path into the answer that the snapshot recorded (e.g. `KeyMetadata`, `Tags`, `Plaintext.length`). */
  pick?: string
  /** The snapshot key this call's answer is compared with. */
  expect?: string
  /** Another Region's client (the snapshots' `<secondary-region>`). */
  region?: string
  profile?: string
  /** Send the same call this many times (the answer of the last one counts). */
  times?: number
}

export interface ReplayCase {
  /** `tests/aws/services/kms/test_kms.py::TestKMS::test_create_key` */
  test: string
  steps: Step[]
}

export interface Recorded {
  /** The snapshot file and the recording's date, as LocalStack's snapshot holds them. */
  file: string
  recordedDate: string
  content: Record<string, unknown>
}

export interface PairResult {
  /** `<case id>#<snapshot key>` */
  id: string
  differences: string[]
}

export interface ReplayTarget {
  endpoint: string
  region: string
  accountId: string
  secondaryRegion: string
  /** SDK client configuration for a lab profile. */
  clientConfig(profile: string, overrides?: Record<string, unknown>): Record<string, unknown>
}

type Command = new (input: unknown) => unknown
type Client = { send(command: unknown): Promise<unknown> }
const SDKS: Record<string, { module: Record<string, unknown>; client: string }> = {
  kms: { module: kmsSdk, client: 'KMSClient' },
  sts: { module: stsSdk, client: 'STSClient' },
  ec2: { module: ec2Sdk, client: 'EC2Client' },
  s3: { module: s3Sdk, client: 'S3Client' },
  iam: { module: iamSdk, client: 'IAMClient' },
}

function lookup(vars: Record<string, unknown>, path: string): unknown {
  let value: unknown = vars
  for (const part of path.split('.')) {
    if (value === undefined || value === null) throw new Error(`replay: ${path} is not set`)
    value = (value as Record<string, unknown>)[part]
  }
  return value
}

const bytes = (value: unknown): Buffer => Buffer.from(value as Uint8Array | string)

/** Request values: `$name.path` refers to an earlier answer, `{{name.path}}` interpolates one, `{ $fn: … }` makes bytes and lists. */
function resolve(value: unknown, vars: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    if (/^\$[\w-]+(\.[\w-]+)*$/.test(value)) return lookup(vars, value.slice(1))
    return value.replace(/\{\{([\w.-]+)\}\}/g, (_, path: string) => String(lookup(vars, path)))
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, vars))
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
    if (entries.length === 1 && entries[0][0].startsWith('$')) return valueFunction(entries[0][0], resolve(entries[0][1], vars))
    return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v, vars)]))
  }
  return value
}

function valueFunction(name: string, arg: unknown): unknown {
  switch (name) {
    case '$bytes': return randomBytes(Number(arg))
    case '$utf8': return Buffer.from(String(arg))
    // boto3 tests often send base64.b64encode(message): the plaintext is that text's bytes.
    case '$base64': return Buffer.from(Buffer.from(String(arg)).toString('base64'))
    case '$repeat': { const [text, n] = arg as [string, number]; return text.repeat(n) }
    case '$tags': { const n = Number(arg); return Array.from({ length: n }, (_, i) => ({ TagKey: `key${i}`, TagValue: `value${i}` })) }
    // 32 random bytes wrapped under an import's public key with RSAES_OAEP_SHA_256.
    case '$wrapped': return publicEncrypt({ key: createPublicKey({ key: bytes(arg), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32))
    case '$from': { const [blob, start] = arg as [unknown, number]; return bytes(blob).subarray(start) }
    case '$append': { const [blob, text] = arg as [unknown, string]; return Buffer.concat([bytes(blob), Buffer.from(text)]) }
    case '$replace': { const [text, from, to] = arg as [string, string, string]; return text.split(from).join(to) }
    default: throw new Error(`replay: unknown value function ${name}`)
  }
}

interface SdkError {
  name: string
  message: string
  $fault?: string
  $metadata?: { httpStatusCode?: number }
}

/** An SDK error as boto3's `e.response` (what the snapshots record): Error.Code/Message (+ members), status. */
function errorOutcome(err: SdkError): Record<string, unknown> {
  const members: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(err)) if (!k.startsWith('$') && !k.startsWith('__') && !['name', 'message', 'Code', 'RequestId', 'HostId', 'Type'].includes(k) && typeof v === 'string') members[k] = v
  return {
    // SDK v3 reads an empty message as "UnknownError".
    Error: { Code: err.name, Message: err.message === 'UnknownError' ? '' : err.message, ...members, Type: err.$fault === 'server' ? 'Receiver' : 'Sender' },
    ResponseMetadata: { HTTPStatusCode: err.$metadata?.httpStatusCode },
  }
}

/** boto3 hands IAM's URL-encoded policy documents back parsed; SDK v3 leaves them as text. */
function parsePolicyDocuments(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(parsePolicyDocuments)
  if (!value || typeof value !== 'object' || value instanceof Date || value instanceof Uint8Array) return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k.endsWith('PolicyDocument') && typeof v === 'string' && v.startsWith('%7B') ? JSON.parse(decodeURIComponent(v)) as unknown : parsePolicyDocuments(v)]))
}

async function successOutcome(output: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { $metadata, ...rest } = output as Record<string, unknown> & { $metadata?: { httpStatusCode?: number } }
  const body = rest.Body as { transformToString?: () => Promise<string> } | undefined
  if (body?.transformToString) (rest as Record<string, unknown>).Body = await body.transformToString()
  return { ...(parsePolicyDocuments(rest) as Record<string, unknown>), ResponseMetadata: { HTTPStatusCode: $metadata?.httpStatusCode } }
}

function pickPath(value: unknown, path: string | undefined): unknown {
  if (!path) return value
  let out = value
  for (const part of path.split('.')) out = (out as Record<string, unknown> | undefined)?.[part]
  return out
}

/** A call that could not be made as written (a value it refers to is missing): the rest of the case is not reached. */
class ReplayError extends Error {}

async function runStep(step: Step, vars: Record<string, unknown>, client: (service: string, profile: string, region: string) => Client, target: ReplayTarget): Promise<{ value: Record<string, unknown>; failed: boolean }> {
  // `local` computes a value once (the same wrapped key material sent twice, say).
  if (step.call === 'local') return { value: resolve(step.input, vars) as Record<string, unknown>, failed: false }
  const [service, operation] = step.call.split('.')
  const sdk = SDKS[service]
  const CommandCtor = sdk?.module[`${operation}Command`] as Command | undefined
  if (!CommandCtor) throw new Error(`replay: no SDK command ${step.call}`)
  const region = step.region === 'secondary' ? target.secondaryRegion : (step.region ?? target.region)
  let outcome = { value: {} as Record<string, unknown>, failed: false }
  for (let i = 0; i < (step.times ?? 1); i++) {
    let input: unknown
    try {
      input = resolve(step.input ?? {}, vars)
    } catch (err) {
      throw new ReplayError(`${step.call}: ${(err as Error).message}`)
    }
    try {
      outcome = { value: await successOutcome((await client(service, step.profile ?? 'admin', region).send(new CommandCtor(input))) as Record<string, unknown>), failed: false }
    } catch (err) {
      if (!(err as SdkError).$metadata) throw err
      outcome = { value: errorOutcome(err as SdkError), failed: true }
    }
  }
  return outcome
}

/** Runs one case; returns each compared pair's differences (none = matched). */
export async function replayCase(id: string, c: ReplayCase, recorded: Recorded, target: ReplayTarget): Promise<PairResult[]> {
  const clients = new Map<string, Client>()
  const client = (service: string, profile: string, region: string): Client => {
    const key = `${service}|${profile}|${region}`
    let found = clients.get(key)
    if (!found) {
      const sdk = SDKS[service]
      const Ctor = sdk.module[sdk.client] as new (config: unknown) => Client
      found = new Ctor(target.clientConfig(profile, { region }))
      clients.set(key, found)
    }
    return found
  }
  const vars: Record<string, unknown> = { account: target.accountId, region: target.region, secondaryRegion: target.secondaryRegion }
  const bindings = new Map<string, string>()
  const results: PairResult[] = []
  let broken: string | undefined
  for (const step of c.steps) {
    const pair = step.expect ? `${id}#${step.expect}` : undefined
    if (broken) {
      if (pair) results.push({ id: pair, differences: [`not reached: ${broken}`] })
      continue
    }
    try {
      const outcome = await runStep(step, vars, (service, profile, region) => client(service, profile, region), target)
      if (step.as) vars[step.as] = outcome.value
      if (!pair) {
        if (outcome.failed) broken = `set-up call ${step.call} failed: ${JSON.stringify(outcome.value.Error)}`
        continue
      }
      const expected = recorded.content[step.expect!]
      if (expected === undefined) throw new Error(`replay ${id}: the snapshot has no ${step.expect}`)
      // boto3's e.response has Error.Type for the query protocols only.
      if (outcome.failed && !(expected as { Error?: { Type?: string } }).Error?.Type) delete (outcome.value.Error as Record<string, unknown>).Type
      const actual = outcome.failed ? outcome.value : pickPath(outcome.value, step.pick)
      results.push({ id: pair, differences: compare(normaliseExpected(expected), actual, '', { target, bindings }) })
    } catch (err) {
      if (err instanceof ReplayError) {
        broken = err.message
        if (pair) results.push({ id: pair, differences: [broken] })
        continue
      }
      throw err
    }
  }
  return results
}

/** What SDK v3 cannot see of boto3's e.response: the top-level `message` copy, and the HTTP headers (recorded as `{}`). */
function normaliseExpected(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value
  const out = { ...(value as Record<string, unknown>) }
  if ('Error' in out) delete out.message
  const meta = out.ResponseMetadata as Record<string, unknown> | undefined
  if (meta) out.ResponseMetadata = { HTTPStatusCode: meta.HTTPStatusCode }
  return out
}

interface MatchState {
  target: ReplayTarget
  /** `<key-id:1>` → the value it stood for, across the case (as LocalStack's reference replacement numbers them). */
  bindings: Map<string, string>
}

const DATETIME = new Set(['datetime', '<datetime>', '<timestamp>', 'date'])
const KEY_ARN = 'arn:aws:kms:[a-z0-9-]+:\\d{12}:key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
const MRK_KEY_ARN = 'arn:aws:kms:[a-z0-9-]+:\\d{12}:key/mrk-[0-9a-f]{32}'

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A recorded string with placeholders as a pattern: fixed tokens by value, numbered ones captured and bound. */
function matchString(expected: string, actual: string, state: MatchState): string | undefined {
  const { target } = state
  const text = expected.split('111111111111').join(target.accountId)
  const tokens: string[] = []
  let pattern = ''
  let last = 0
  for (const m of text.matchAll(/<([a-z0-9-]+)(?::(\d+))?>/g)) {
    pattern += escape(text.slice(last, m.index))
    last = m.index + m[0].length
    const [token, name, n] = m
    if (name === 'region') pattern += escape(target.region)
    else if (name === 'secondary-region') pattern += escape(target.secondaryRegion)
    else if (name === 'partition') pattern += 'aws'
    else if (name === 'key-arn' && n === undefined) pattern += KEY_ARN
    else if (name === 'mrk-key-arn' && n === undefined) pattern += MRK_KEY_ARN
    else {
      pattern += '(.+?)'
      tokens.push(n === undefined ? '' : token)
    }
  }
  pattern += escape(text.slice(last))
  const m = new RegExp(`^${pattern}$`, 's').exec(actual)
  if (!m) return `expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]
    if (!token) continue
    const value = m[i + 1]
    const bound = state.bindings.get(token)
    if (bound !== undefined && bound !== value) return `${token} stood for ${JSON.stringify(bound)} earlier, here ${JSON.stringify(value)}`
    const family = token.replace(/:\d+>$/, '')
    for (const [other, v] of state.bindings) {
      if (other !== token && other.startsWith(`${family}:`) && v === value) return `${token} and ${other} are the same value ${JSON.stringify(value)}; AWS's differ`
    }
    state.bindings.set(token, value)
  }
  return undefined
}

const kebab = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()

/** Differences between what AWS recorded and what the lab answered: values, and the shape (members present or absent). */
export function compare(expected: unknown, actual: unknown, path: string, state: MatchState): string[] {
  const at = path || '(answer)'
  if (expected === null) return actual === null || actual === undefined ? [] : [`${at}: expected null, got ${JSON.stringify(actual)}`]
  if (actual === undefined) return [`${at}: missing (AWS: ${JSON.stringify(expected)})`]
  if (typeof expected === 'string') {
    if (DATETIME.has(expected)) return actual instanceof Date ? [] : [`${at}: expected a timestamp, got ${JSON.stringify(actual)}`]
    if (actual instanceof Uint8Array) {
      // Blobs are recorded as their member's name (key_value transformers without reference replacement).
      const member = path.split('.').pop() ?? ''
      return actual.length > 0 && (expected === kebab(member) || /^<[^>]+>$/.test(expected)) ? [] : [`${at}: expected ${JSON.stringify(expected)}, got ${actual.length} bytes`]
    }
    if (actual instanceof Date) return [`${at}: expected ${JSON.stringify(expected)}, got a timestamp`]
    if (typeof actual !== 'string') return [`${at}: expected the string ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`]
    const problem = matchString(expected, actual, state)
    return problem ? [`${at}: ${problem}`] : []
  }
  if (typeof expected === 'number' || typeof expected === 'boolean') {
    return actual === expected ? [] : [`${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`]
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${at}: expected a list, got ${JSON.stringify(actual)}`]
    if (actual.length !== expected.length) return [`${at}: expected ${expected.length} items, got ${actual.length}: ${JSON.stringify(actual)}`]
    return expected.flatMap((e, i) => compare(e, actual[i], `${path}[${i}]`, state))
  }
  if (typeof actual !== 'object' || actual === null || Array.isArray(actual) || actual instanceof Date) return [`${at}: expected an object, got ${JSON.stringify(actual)}`]
  const exp = expected as Record<string, unknown>
  const act = actual as Record<string, unknown>
  const out: string[] = []
  for (const key of Object.keys(act)) if (act[key] !== undefined && !(key in exp)) out.push(`${path ? `${path}.` : ''}${key}: present, AWS has no such member (${JSON.stringify(act[key])})`)
  for (const key of Object.keys(exp)) out.push(...compare(exp[key], act[key], path ? `${path}.${key}` : key, state))
  return out
}
