// The contract of @kms-share/policy: what the lab (enforcement) and keyadmin (validation,
// simulation) depend on. Change it only together with its callers.

/** A value in the request context: single- or multi-valued, always as strings (AWS compares strings). */
export type ContextValue = string | string[]

/** Condition keys → values, as filled by the caller (the lab fills them from the request). Key names are case-insensitive. */
export type RequestContext = Record<string, ContextValue>

export type PrincipalType = 'root' | 'user' | 'assumed-role' | 'service' | 'anonymous'

/** Who makes the request. */
export interface RequestPrincipal {
  /** The caller's ARN: `arn:aws:iam::ACCT:root`, `arn:aws:iam::ACCT:user/NAME`, `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`. */
  arn: string
  type: PrincipalType
  accountId: string
  /** For an assumed-role session: the role's ARN (`arn:aws:iam::ACCT:role/PATH/ROLE`), which `Principal` matches. */
  roleArn?: string
  /** For a service principal (`s3.amazonaws.com`). */
  service?: string
}

export interface EvaluationRequest {
  principal: RequestPrincipal
  /** `service:Action`, e.g. `kms:GenerateDataKey`. */
  action: string
  /** The resource ARN, or `*` for actions without one (kms:CreateKey). */
  resource: string
  context: RequestContext
}

export type PolicyKind = 'identity' | 'resource' | 'session' | 'boundary' | 'scp'

/** A parsed policy handed to evaluate(), with a name to report in decisions. */
export interface NamedPolicy {
  /** e.g. `KMS-Workshop-EncDecPermissions` or `key-policy:1234abcd-…`. */
  name: string
  document: PolicyDocument
}

export interface EvaluationInput {
  request: EvaluationRequest
  identityPolicies: NamedPolicy[]
  /** The key policy, bucket policy or role trust policy. */
  resourcePolicy?: NamedPolicy
  /** The account that owns the resource (for the account-principal delegation rule). */
  resourceAccount?: string
  /**
   * KMS's rule: a key policy must allow the request — directly, or by naming the account
   * (root) which delegates to IAM policies — for identity policies to count.
   * Set for KMS keys; S3 and IAM resources leave it false (identity OR resource allow suffices in-account).
   */
  resourcePolicyRequired?: boolean
  /** Optional permissions boundary and session policies: when present they must also allow. */
  permissionsBoundary?: NamedPolicy
  sessionPolicies?: NamedPolicy[]
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied'

/** One statement that took part in the decision, and why. */
export interface MatchedStatement {
  policy: string
  kind: PolicyKind
  statementIndex: number
  sid?: string
  effect: Effect
  /** Human-readable: which principal/action/resource/condition matched. */
  reason: string
}

export interface EvaluationResult {
  decision: Decision
  /** The statements that decided (the denies for ExplicitlyDenied, the allows for Allowed). */
  decidingStatements: MatchedStatement[]
  /** For AWS's sentence: which policy type denied or failed to allow. */
  deniedBy?: 'resource-based policy' | 'identity-based policy' | 'permissions boundary' | 'session policy' | 'service control policy'
  /** Explanation per policy for simulation output. */
  explanation: string[]
}

export type Effect = 'Allow' | 'Deny'

/** Policy grammar, normalised: single strings become arrays. Principal `"*"` stays `"*"`. */
export type PrincipalBlock = '*' | Record<string, string[]>

export type ConditionBlock = Record<string, Record<string, string[]>>

export interface Statement {
  Sid?: string
  Effect: Effect
  Principal?: PrincipalBlock
  NotPrincipal?: PrincipalBlock
  Action?: string[]
  NotAction?: string[]
  Resource?: string[]
  NotResource?: string[]
  Condition?: ConditionBlock
}

export interface PolicyDocument {
  Version?: string
  Id?: string
  Statement: Statement[]
}

export type Severity = 'ERROR' | 'SECURITY_WARNING' | 'WARNING' | 'SUGGESTION'

export interface Finding {
  severity: Severity
  /** Stable code, e.g. `UNKNOWN_ACTION`, `MALFORMED_ACCOUNT_ID`, `NOTPRINCIPAL_DENY_ROLE_WITHOUT_SESSION`. */
  code: string
  message: string
  /** JSON path, e.g. `Statement[1].Condition.NumericLessThan.aws: MultiFactorAuthAge`. */
  path: string
  /** 1-based. */
  line: number
  /** 1-based. */
  column: number
  suggestion?: string
}

export interface ParseResult {
  /** The normalised document when the text is good enough to evaluate, else undefined. */
  document?: PolicyDocument
  /** Syntax errors (every one, with line and column) and grammar errors. */
  findings: Finding[]
}
