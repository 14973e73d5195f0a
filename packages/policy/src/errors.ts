// The package's error catalogue: thrown errors (POL_ codes, @fastify/error) and the finding codes
// that parsePolicy/validatePolicy report. README.md documents every code; test/errors.test.ts checks it.
import createError from '@fastify/error'
import type { Finding, Severity } from './types.js'

/** The input to parsePolicy/validatePolicy was not a string. */
export const PolicyInputError = createError<'POL_INVALID_INPUT', 400, [string]>(
  'POL_INVALID_INPUT',
  'A policy must be given as JSON text (a string), got %s',
  400,
  TypeError,
)

/** assertValidPolicy found ERROR findings; `findings` carries them all. */
export const PolicyInvalidError = createError<'POL_INVALID_POLICY', 400, [number, string]>(
  'POL_INVALID_POLICY',
  'The policy has %d error(s); first: %s',
  400,
)

export type InvalidPolicyError = InstanceType<typeof PolicyInvalidError> & { findings: Finding[] }

/** Builds a POL_INVALID_POLICY error carrying every finding (errors and warnings). */
export function policyInvalidError(findings: Finding[]): InvalidPolicyError {
  const errors = findings.filter((f) => f.severity === 'ERROR')
  const first = errors[0]
  const summary = first ? `${first.code} at line ${first.line}, column ${first.column}: ${first.message}` : 'none'
  const err = new PolicyInvalidError(errors.length, summary) as InvalidPolicyError
  err.findings = findings
  return err
}

/** serviceRole() was asked for a duty that has no service role. */
export const UnknownDutyError = createError<'POL_UNKNOWN_DUTY', 400, [string, string]>(
  'POL_UNKNOWN_DUTY',
  'No service role has the duty %s (duties: %s)',
  400,
  TypeError,
)

/** Every thrown error's code. */
export const ERROR_CODES = ['POL_INVALID_INPUT', 'POL_INVALID_POLICY', 'POL_UNKNOWN_DUTY'] as const

interface FindingCodeInfo {
  severity: Severity
  /** One line: what the code means. */
  summary: string
}

/** Every finding code, with its severity and meaning. */
export const FINDING_CODES = {
  // Syntax (parsePolicy)
  JSON_SYNTAX_ERROR: { severity: 'ERROR', summary: 'The text is not valid JSON at this position.' },
  JSON_TRAILING_COMMA: { severity: 'ERROR', summary: 'A comma before a closing bracket or brace; AWS rejects it.' },
  DUPLICATE_KEY: { severity: 'ERROR', summary: 'The same key appears twice in one object; only one would count.' },
  // Grammar (parsePolicy)
  NOT_AN_OBJECT: { severity: 'ERROR', summary: 'A policy document must be a JSON object.' },
  MISSING_VERSION: { severity: 'WARNING', summary: 'No Version: AWS assumes 2008-10-17, where policy variables do not work.' },
  OUTDATED_VERSION: { severity: 'WARNING', summary: 'Version 2008-10-17 does not support policy variables.' },
  INVALID_VERSION: { severity: 'ERROR', summary: 'Version must be "2012-10-17".' },
  MISSING_STATEMENT: { severity: 'ERROR', summary: 'A policy needs a Statement with at least one statement.' },
  MISSING_EFFECT: { severity: 'ERROR', summary: 'A statement needs an Effect.' },
  INVALID_EFFECT: { severity: 'ERROR', summary: 'Effect must be "Allow" or "Deny".' },
  MISSING_ACTION: { severity: 'ERROR', summary: 'A statement needs Action or NotAction.' },
  ACTION_AND_NOTACTION: { severity: 'ERROR', summary: 'A statement cannot have both Action and NotAction.' },
  PRINCIPAL_AND_NOTPRINCIPAL: { severity: 'ERROR', summary: 'A statement cannot have both Principal and NotPrincipal.' },
  RESOURCE_AND_NOTRESOURCE: { severity: 'ERROR', summary: 'A statement cannot have both Resource and NotResource.' },
  UNKNOWN_ELEMENT: { severity: 'ERROR', summary: 'A key that is not part of the policy grammar (element names are case-sensitive).' },
  DUPLICATE_SID: { severity: 'ERROR', summary: 'Two statements share a Sid; Sids must be unique within a policy.' },
  INVALID_TYPE: { severity: 'ERROR', summary: 'A value of the wrong JSON type for its element.' },
  // Access Analyzer rates these suggestions (EMPTY_ARRAY_ACTION, EMPTY_OBJECT_CONDITION …): AWS accepts them.
  EMPTY_ARRAY: { severity: 'SUGGESTION', summary: 'An empty array, which matches nothing.' },
  EMPTY_OBJECT: { severity: 'SUGGESTION', summary: 'An empty Principal or Condition block.' },
  // Validation (validatePolicy)
  MISSING_RESOURCE: { severity: 'ERROR', summary: 'A statement of an identity or resource policy needs Resource or NotResource.' },
  MISSING_PRINCIPAL: { severity: 'ERROR', summary: 'A statement of a resource or trust policy needs Principal or NotPrincipal.' },
  PRINCIPAL_IN_IDENTITY_POLICY: { severity: 'ERROR', summary: 'Identity policies cannot name a Principal or NotPrincipal.' },
  INVALID_SID: { severity: 'ERROR', summary: 'IAM identity policy Sids may contain only letters and digits.' },
  INVALID_ACTION: { severity: 'ERROR', summary: 'An action not in the form service:Action.' },
  UNKNOWN_SERVICE: { severity: 'ERROR', summary: 'The service prefix of an action is not an AWS service.' },
  UNKNOWN_ACTION: { severity: 'ERROR', summary: 'No action of the service has this name (or matches this wildcard).' },
  ACTION_CASE: { severity: 'SUGGESTION', summary: 'The action matches only case-insensitively; write it as AWS spells it.' },
  UNKNOWN_CONDITION_OPERATOR: { severity: 'ERROR', summary: 'Not an IAM condition operator.' },
  UNKNOWN_CONDITION_KEY: { severity: 'ERROR', summary: 'Not a global condition key nor a key of the service.' },
  MALFORMED_CONDITION_KEY: { severity: 'ERROR', summary: 'A condition key with whitespace in it; AWS never matches it.' },
  CONDITION_VALUE_TYPE_MISMATCH: { severity: 'WARNING', summary: 'A condition value that the operator cannot compare (e.g. a non-number for Numeric*).' },
  CONDITION_OPERATOR_KEY_TYPE_MISMATCH: { severity: 'WARNING', summary: 'The operator family does not fit the condition key\'s type.' },
  SET_OPERATOR_ON_SINGLE_VALUED_KEY: { severity: 'WARNING', summary: 'ForAnyValue:/ForAllValues: on a single-valued condition key.' },
  ALLOW_FORALLVALUES_WITHOUT_NULL: { severity: 'SECURITY_WARNING', summary: 'Allow with ForAllValues: matches requests that lack the key, unless a Null check requires it.' },
  MALFORMED_ACCOUNT_ID: { severity: 'ERROR', summary: 'An account id that is not 12 digits (often a placeholder left in).' },
  MALFORMED_PRINCIPAL: { severity: 'ERROR', summary: 'A principal that is not an account id, a principal ARN, a service name or "*".' },
  UNKNOWN_PRINCIPAL_TYPE: { severity: 'ERROR', summary: 'A principal block key other than AWS, Service, Federated or CanonicalUser.' },
  MALFORMED_RESOURCE: { severity: 'ERROR', summary: 'A resource that is neither "*" nor an ARN.' },
  MALFORMED_VPC_ENDPOINT_ID: { severity: 'WARNING', summary: 'An aws:SourceVpce/aws:SourceVpc value that is not a VPC endpoint/VPC id (often a placeholder).' },
  CROSS_ACCOUNT_PRINCIPAL: { severity: 'WARNING', summary: 'A principal in an account other than the policy owner\'s.' },
  PUBLIC_ACCESS: { severity: 'SECURITY_WARNING', summary: 'Allows every principal ("*") without a condition.' },
  ALLOW_WITH_NOTPRINCIPAL: { severity: 'SECURITY_WARNING', summary: 'Allow with NotPrincipal grants access to everyone not listed, anonymous users included.' },
  NOTPRINCIPAL_DENY_ROLE_WITHOUT_SESSION: { severity: 'SECURITY_WARNING', summary: 'Deny with NotPrincipal names a role but not its sessions, so the role\'s own sessions are denied.' },
  NOTPRINCIPAL_DENY_SESSION_WITHOUT_ROLE: { severity: 'SECURITY_WARNING', summary: 'Deny with NotPrincipal names a role session but not its role, so the session is denied.' },
  NOTPRINCIPAL_DENY_WITHOUT_ACCOUNT: { severity: 'SECURITY_WARNING', summary: 'Deny with NotPrincipal names a user or role but not its account, so the exception does not work.' },
  KMS_WILDCARD_TO_NON_ROOT: { severity: 'SECURITY_WARNING', summary: 'kms:* allowed to a principal other than the account root (least privilege, separation of duties).' },
  VPCE_DENY_BLOCKS_AWS_SERVICES: { severity: 'SECURITY_WARNING', summary: 'A deny outside a VPC (endpoint) on data-key actions also blocks SSE-KMS through S3 and other AWS services.' },
  KEY_POLICY_RESOURCE_NOT_WILDCARD: { severity: 'WARNING', summary: 'In a key policy Resource should be "*" (the key the policy is attached to).' },
} as const satisfies Record<string, FindingCodeInfo>

export type FindingCode = keyof typeof FINDING_CODES
