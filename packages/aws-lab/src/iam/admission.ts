// Policy admission as IAM does it (CreatePolicy, CreatePolicyVersion, Put{Role,User}Policy): what
// AWS refuses and what it accepts, which is narrower than what the linter (@kms-share/policy) flags.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicy.html
import { validatePolicy, type Finding } from '@kms-share/policy'
import { AwsError } from '../core/types.js'

/** Every policy document AWS takes (IAM, KMS key policies) matches this member pattern. */
// eslint-disable-next-line no-control-regex -- AWS's policy pattern admits tab, LF and CR by design
export const POLICY_CHARACTERS = /^[\u0009\u000A\u000D\u0020-\u00FF]+$/
export const POLICY_PATTERN_TEXT = '[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+'
/** Managed policy size, whitespace not counted (IAM quotas). */
export const MANAGED_POLICY_MAX = 6144

/** Findings of the linter that AWS itself refuses at admission (it accepts unknown actions and condition keys). */
const REFUSED_BY_AWS = new Set([
  'JSON_SYNTAX_ERROR', 'JSON_TRAILING_COMMA', 'NOT_AN_OBJECT', 'INVALID_VERSION', 'MISSING_STATEMENT', 'MISSING_EFFECT', 'INVALID_EFFECT',
  'ACTION_AND_NOTACTION', 'PRINCIPAL_AND_NOTPRINCIPAL', 'RESOURCE_AND_NOTRESOURCE', 'UNKNOWN_ELEMENT', 'INVALID_TYPE',
  'UNKNOWN_CONDITION_OPERATOR', 'MALFORMED_PRINCIPAL', 'MALFORMED_ACCOUNT_ID', 'UNKNOWN_PRINCIPAL_TYPE', 'INVALID_ACTION',
])

export type JsonStatement = Record<string, unknown>

/** The statements of a parsed document (one object or a list), or undefined when Statement is not that. */
export function statementsOf(doc: unknown): JsonStatement[] | undefined {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return undefined
  const raw = (doc as Record<string, unknown>).Statement
  const list = Array.isArray(raw) ? raw : raw && typeof raw === 'object' ? [raw] : undefined
  if (!list || list.length === 0 || list.some((s) => !s || typeof s !== 'object' || Array.isArray(s))) return undefined
  return list as JsonStatement[]
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The linter's findings that AWS also refuses, for a document already known to be grammatical JSON. */
export function refusedFindings(text: string, kind: 'identity' | 'resource', service?: string): Finding[] {
  return validatePolicy(text, { kind, ...(service ? { service } : {}) }).filter(
    // A placeholder account in a Resource ARN is accepted (it matches nothing); in a Principal it is refused.
    (f) => REFUSED_BY_AWS.has(f.code) && (f.code !== 'MALFORMED_ACCOUNT_ID' || /Principal/.test(f.path ?? '')),
  )
}

const malformed = (message: string) => new AwsError('MalformedPolicyDocument', message, 400)

/** Throws IAM's answer for an identity policy AWS would refuse; returns nothing when AWS would accept it. */
export function admitIdentityPolicy(text: string, member = 'policyDocument', managed = false): void {
  if (!POLICY_CHARACTERS.test(text)) {
    throw new AwsError('ValidationError', `1 validation error detected: Value '${text}' at '${member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${POLICY_PATTERN_TEXT}`, 400)
  }
  if (managed && text.replace(/\s/g, '').length > MANAGED_POLICY_MAX) {
    throw new AwsError('LimitExceeded', `Cannot exceed quota for PolicySize: ${MANAGED_POLICY_MAX}`, 409)
  }
  const statements = statementsOf(parseJson(text))
  if (!statements) throw malformed('Syntax errors in policy.')
  for (const st of statements) {
    if ('Principal' in st || 'NotPrincipal' in st) throw malformed('Policy document should not specify a principal.')
    if (!('Action' in st) && !('NotAction' in st)) throw malformed('Policy statement must contain actions.')
    if (!('Resource' in st) && !('NotResource' in st)) throw malformed('Policy statement must contain resources.')
  }
  const sids = statements.map((st) => st.Sid).filter((sid) => typeof sid === 'string' && sid !== '')
  if (new Set(sids).size !== sids.length) throw malformed('Statement IDs (SID) in a single policy must be unique.')
  const refused = refusedFindings(text, 'identity')
  const action = refused.find((f) => f.code === 'INVALID_ACTION')
  if (action) throw malformed('Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.')
  if (refused.length > 0) throw malformed('Syntax errors in policy.')
}
