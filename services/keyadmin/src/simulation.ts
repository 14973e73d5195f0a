// Simulation as AWS would decide: the request context AWS fills for a principal and an action,
// refusal of condition keys AWS never sets, and evaluation with packages/policy.
import {
  closest, conditionKeyCandidates, evaluate, expandAction, findConditionKey,
  type EvaluationResult, type NamedPolicy, type PolicyDocument, type RequestContext, type RequestPrincipal,
} from '@kms-share/policy'
import { KeyadminErrors } from './errors.js'

/** A principal to simulate, and where its identity policies live. */
export interface SimulatedPrincipal {
  principal: RequestPrincipal
  /** The IAM role or user whose policies apply (none for the root, `*` or another account). */
  iamEntity?: { kind: 'role' | 'user'; name: string }
  /** A label for output: the role, user or root ARN. */
  label: string
}

/**
 * Reads a principal as written in policies or by a caller: an account id, the root, a role, a role
 * session or a user ARN. Roles are simulated as one of their sessions, as they call AWS.
 */
export function simulatedPrincipal(text: string, accountId: string): SimulatedPrincipal | undefined {
  if (/^\d{12}$/.test(text)) text = `arn:aws:iam::${text}:root`
  let m = /^arn:aws:iam::(\d{12}):root$/.exec(text)
  if (m) return { principal: { arn: text, type: 'root', accountId: m[1] }, label: text }
  m = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([\w+=,.@-]+)$/.exec(text)
  if (m) {
    const session = `arn:aws:sts::${m[1]}:assumed-role/${m[2]}/keyadmin-simulation`
    return { principal: { arn: session, type: 'assumed-role', accountId: m[1], roleArn: text }, label: text, ...(m[1] === accountId ? { iamEntity: { kind: 'role' as const, name: m[2] } } : {}) }
  }
  m = /^arn:aws:sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/[\w+=,.@-]+$/.exec(text)
  if (m) {
    const roleArn = `arn:aws:iam::${m[1]}:role/${m[2]}`
    return { principal: { arn: text, type: 'assumed-role', accountId: m[1], roleArn }, label: text, ...(m[1] === accountId ? { iamEntity: { kind: 'role' as const, name: m[2] } } : {}) }
  }
  m = /^arn:aws:iam::(\d{12}):user\/(?:.*\/)?([\w+=,.@-]+)$/.exec(text)
  if (m) return { principal: { arn: text, type: 'user', accountId: m[1] }, label: text, ...(m[1] === accountId ? { iamEntity: { kind: 'user' as const, name: m[2] } } : {}) }
  return undefined
}

export interface RequestCircumstances {
  region: string
  /** The call comes from S3 on the caller's behalf (SSE-KMS): kms:ViaService and aws:CalledVia. */
  viaS3?: boolean
  /** The caller's credentials carry MFA authenticated this many seconds ago. */
  mfaAgeSeconds?: number
  /** The call arrives through this VPC endpoint (and VPC). */
  sourceVpce?: string
  sourceVpc?: string
  now?: Date
  /** aws:userid as AWS reports it (GetCallerIdentity's UserId: `AROA…:session`, `AIDA…`). */
  userId?: string
  /** aws:SourceIp: the address the call comes from. */
  sourceIp?: string
  /** Role credentials from an instance's metadata carry ec2:SourceInstanceARN and ec2:RoleDelivery. */
  sourceInstanceArn?: string
  /** aws:SecureTransport (true unless the endpoint is plain http, as the lab's may be). */
  secureTransport?: boolean
}

/** The condition keys AWS fills for `principal` calling KMS in these circumstances. */
export function awsFilledContext(p: RequestPrincipal, circumstances: RequestCircumstances): RequestContext {
  const now = circumstances.now ?? new Date()
  const ctx: RequestContext = {
    'aws:PrincipalArn': p.type === 'assumed-role' && p.roleArn ? p.roleArn : p.arn,
    'aws:PrincipalAccount': p.accountId,
    'aws:PrincipalType': p.type === 'assumed-role' ? 'AssumedRole' : p.type === 'root' ? 'Account' : 'User',
    'aws:CurrentTime': now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
    'aws:SecureTransport': String(circumstances.secureTransport ?? true),
    'aws:RequestedRegion': circumstances.region,
    'aws:ViaAWSService': String(Boolean(circumstances.viaS3)),
    'kms:CallerAccount': p.accountId,
  }
  if (p.type === 'user') ctx['aws:username'] = p.arn.split('/').pop() ?? ''
  if (circumstances.userId) ctx['aws:userid'] = circumstances.userId
  if (circumstances.sourceInstanceArn) {
    ctx['ec2:SourceInstanceARN'] = circumstances.sourceInstanceArn
    ctx['ec2:RoleDelivery'] = '2.0'
  }
  if (circumstances.mfaAgeSeconds !== undefined) {
    ctx['aws:MultiFactorAuthPresent'] = 'true'
    ctx['aws:MultiFactorAuthAge'] = String(circumstances.mfaAgeSeconds)
  } else if (p.type === 'assumed-role') {
    // Temporary credentials without MFA say false; long-term keys carry no MFA key at all.
    ctx['aws:MultiFactorAuthPresent'] = 'false'
  }
  if (circumstances.viaS3) {
    ctx['kms:ViaService'] = `s3.${circumstances.region}.amazonaws.com`
    ctx['aws:CalledVia'] = ['s3.amazonaws.com']
    ctx['aws:CalledViaFirst'] = 's3.amazonaws.com'
    ctx['aws:CalledViaLast'] = 's3.amazonaws.com'
  } else {
    if (circumstances.sourceIp) ctx['aws:SourceIp'] = circumstances.sourceIp
    if (circumstances.sourceVpce) ctx['aws:SourceVpce'] = circumstances.sourceVpce
    if (circumstances.sourceVpc) ctx['aws:SourceVpc'] = circumstances.sourceVpc
  }
  return ctx
}

/** A KMS action as AWS spells it (`kms:decrypt` → `kms:Decrypt`), refusing wildcards and unknown actions. */
export function kmsAction(text: string): string {
  if (/[*?]/.test(text)) throw new KeyadminErrors.SIMULATE_INPUT(`action ${text}: simulate one action, without wildcards`)
  const found = expandAction(text)
  if (found.length !== 1 || !found[0].startsWith('kms:')) {
    const name = text.includes(':') ? text : `kms:${text}`
    const suggestion = closest(name, expandAction('kms:*'))
    throw new KeyadminErrors.SIMULATE_INPUT(`action ${text} is not a KMS action${suggestion ? `; did you mean ${suggestion}?` : ''}`)
  }
  const [service, name] = found[0].split(':')
  return `${service}:${name}`
}

/**
 * Refuses context keys AWS never sets for a KMS call: unknown keys (with a did-you-mean) and other
 * services' keys. A simulator that accepts kms:CallerAcount answers a question AWS never asks.
 */
export function checkContextKeys(context: Record<string, unknown>): RequestContext {
  const out: RequestContext = {}
  for (const [key, value] of Object.entries(context)) {
    const prefix = key.slice(0, Math.max(0, key.indexOf(':'))).toLowerCase()
    const known = findConditionKey(key)
    if (!known || (prefix !== 'aws' && prefix !== 'kms')) {
      const candidates = conditionKeyCandidates(prefix === 'aws' || prefix === 'kms' ? key : `kms:${key}`)
        .map((c) => c.key.replace(/\$\{[^}]*\}|<[^>]*>/, ''))
        .filter((c) => /^(aws|kms):/i.test(c))
      const suggestion = closest(key, candidates)
      const why = known ? `${key} is a ${prefix} key; AWS never sets it on a KMS request` : `AWS never sets ${key}: it is not a condition key`
      throw new KeyadminErrors.UNKNOWN_CONTEXT_KEY(`${why}${suggestion ? `; did you mean ${suggestion}?` : ''}`)
    }
    if (typeof value === 'string') out[key] = value
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = String(value)
    else if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) out[key] = value
    else throw new KeyadminErrors.SIMULATE_INPUT(`context ${key}: a string or a list of strings`)
  }
  return out
}

/** An encryption context as the condition keys AWS sets from it: kms:EncryptionContext:<key> and kms:EncryptionContextKeys. */
export function encryptionContextKeys(context: Record<string, string> | undefined): RequestContext {
  if (!context || Object.keys(context).length === 0) return {}
  const out: RequestContext = { 'kms:EncryptionContextKeys': Object.keys(context) }
  for (const [key, value] of Object.entries(context)) out[`kms:EncryptionContext:${key}`] = value
  return out
}

/** Merges given keys over filled ones, matching names case-insensitively as AWS does. */
export function mergeContext(filled: RequestContext, given: RequestContext): RequestContext {
  const out: RequestContext = {}
  const givenLower = new Set(Object.keys(given).map((k) => k.toLowerCase()))
  for (const [k, v] of Object.entries(filled)) if (!givenLower.has(k.toLowerCase())) out[k] = v
  return { ...out, ...given }
}

/** Every identity in the root user's account is allowed by IAM: the root is simulated with an allow-all. */
export const ROOT_IDENTITY_POLICY: NamedPolicy = {
  name: 'root (account owner: all IAM permissions)',
  document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['*'], Resource: ['*'] }] },
}

export interface KeyDecisionInput {
  principal: RequestPrincipal
  action: string
  keyArn: string
  accountId: string
  keyPolicy: PolicyDocument
  identityPolicies: NamedPolicy[]
  context: RequestContext
}

export function decideOnKey(input: KeyDecisionInput): EvaluationResult {
  return evaluate({
    request: { principal: input.principal, action: input.action, resource: input.keyArn, context: input.context },
    identityPolicies: input.identityPolicies,
    resourcePolicy: { name: 'key policy', document: input.keyPolicy },
    resourceAccount: input.accountId,
    resourcePolicyRequired: true,
  })
}
