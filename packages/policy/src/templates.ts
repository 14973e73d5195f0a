// The workshop's key policies as parameterised templates, each written the way AWS documents it
// (aws:PrincipalArn instead of NotPrincipal, aws:ViaAWSService exceptions on network denies), so
// that a rendered policy validates without findings and keeps SSE-KMS through S3 working.
import { KEY_ADMIN_ACTIONS, KEY_CRYPTO_ACTIONS, KEY_READ_ACTIONS, KEY_USE_ACTIONS, MFA_SENSITIVE_ACTIONS } from './kms-actions.js'
import { serviceRole } from './roles.js'
import type { PolicyDocument, Statement } from './types.js'

export type TemplateParameterType = 'accountId' | 'region' | 'bucket' | 'name' | 'arns' | 'strings' | 'vpceIds' | 'conditionKey' | 'seconds'

export interface TemplateParameter {
  name: string
  type: TemplateParameterType
  description: string
  required: boolean
  /** A value used when the parameter is not given. */
  default?: string | number | string[]
}

export type TemplateValues = Record<string, string | number | string[]>

export interface PolicyTemplate {
  name: string
  description: string
  parameters: TemplateParameter[]
  render(values: TemplateValues): PolicyDocument
}

/** A parameter that is missing or malformed; `parameter` names it. */
export class TemplateParameterError extends Error {
  constructor(readonly parameter: string, message: string) {
    super(message)
    this.name = 'TemplateParameterError'
  }
}

const ACCOUNT_ID = /^\d{12}$/
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const NAME = /^[\w+=,.@-]{1,64}$/
const PRINCIPAL_ARN = /^arn:aws:(iam::\d{12}:(root|user\/[\w+=,.@/-]+|role\/[\w+=,.@/-]+)|sts::\d{12}:assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+)$/
const VPCE_ID = /^vpce-[0-9a-f]{8,17}$/
const CONDITION_KEY = /^[A-Za-z0-9]+:[A-Za-z0-9:/_.-]+$/

const account = (required = true): TemplateParameter => ({ name: 'accountId', type: 'accountId', required, description: 'The account that owns the key (12 digits).' })
const rootArn = (v: TemplateValues) => `arn:aws:iam::${v.accountId}:root`

/** Lets IAM policies in the account decide, for the given actions (AWS's default is kms:*). */
function rootStatement(v: TemplateValues, actions: readonly string[] | '*' = '*'): Statement {
  return {
    Sid: actions === '*' ? 'EnableIAMUserPermissions' : 'EnableIAMPoliciesForAdministration',
    Effect: 'Allow',
    Principal: { AWS: [rootArn(v)] },
    Action: actions === '*' ? ['kms:*'] : [...actions],
    Resource: ['*'],
  }
}

const document = (...statements: Statement[]): PolicyDocument => ({ Version: '2012-10-17', Statement: statements })

export const POLICY_TEMPLATES: PolicyTemplate[] = [
  {
    name: 'default',
    description: "AWS's default key policy: the account root holds kms:*, so IAM policies in the account decide who may do what.",
    parameters: [account()],
    render: (v) => document(rootStatement(v)),
  },
  {
    name: 'separation-of-duties',
    description:
      'Administrators manage the key and never use it; the sensitive operations (PutKeyPolicy, ScheduleKeyDeletion, DisableKey, DeleteImportedKeyMaterial, DeleteAlias, UpdateAlias, CreateGrant) only with MFA (aws:MultiFactorAuthPresent), denied to everyone without it. The uploader may GenerateDataKey (and Decrypt, which S3 needs to complete multipart uploads), the downloader may Decrypt — both only through S3 (kms:ViaService) and only for this bucket\'s objects (kms:EncryptionContext:aws:s3:arn). Every cryptographic use by anyone else, or outside S3, is explicitly denied, so no IAM policy or grant can give more.',
    parameters: [
      account(),
      { name: 'region', type: 'region', required: true, description: "The bucket's region (for kms:ViaService s3.REGION.amazonaws.com)." },
      { name: 'bucket', type: 'bucket', required: true, description: 'The bucket whose objects the key encrypts.' },
      { name: 'administrators', type: 'arns', required: true, description: 'Principal ARNs that administer the key (roles or users); they are denied every use of it.' },
      { name: 'mfaPrincipals', type: 'arns', required: true, description: 'IAM users with MFA devices who perform the sensitive operations (with MFA only); they are denied every use of the key.' },
      { name: 'uploaderRole', type: 'name', required: false, default: serviceRole('upload').roleName, description: "The upload service's role name." },
      { name: 'downloaderRole', type: 'name', required: false, default: serviceRole('download').roleName, description: "The download service's role name." },
      { name: 'auditorRole', type: 'name', required: false, default: serviceRole('audit').roleName, description: "The audit worker's role name: it reads object metadata and is denied every use of the key." },
    ],
    render: (v) => {
      const role = (name: unknown) => `arn:aws:iam::${v.accountId}:role/${String(name)}`
      const viaS3 = `s3.${v.region}.amazonaws.com`
      const throughS3ForBucket = {
        StringEquals: { 'kms:ViaService': [viaS3] },
        // The object ARN, or the bucket ARN when S3 Bucket Keys are on.
        StringLike: { 'kms:EncryptionContext:aws:s3:arn': [`arn:aws:s3:::${v.bucket}`, `arn:aws:s3:::${v.bucket}/*`] },
      }
      const services = [role(v.uploaderRole), role(v.downloaderRole)]
      const neverUse = [...new Set([...(v.administrators as string[]), ...(v.mfaPrincipals as string[]), role(v.auditorRole)])]
      return document(
        // IAM policies decide who administers and reads (the sensitive operations still only with MFA); never who uses.
        rootStatement(v, [...new Set([...KEY_ADMIN_ACTIONS, ...KEY_READ_ACTIONS, ...MFA_SENSITIVE_ACTIONS])]),
        { Sid: 'KeyAdministrators', Effect: 'Allow', Principal: { AWS: [...(v.administrators as string[])] }, Action: [...KEY_ADMIN_ACTIONS], Resource: ['*'] },
        { Sid: 'SensitiveOperationsWithMfa', Effect: 'Allow', Principal: { AWS: [...(v.mfaPrincipals as string[])] }, Action: [...MFA_SENSITIVE_ACTIONS], Resource: ['*'], Condition: { Bool: { 'aws:MultiFactorAuthPresent': ['true'] } } },
        { Sid: 'UploaderGenerateDataKeyThroughS3', Effect: 'Allow', Principal: { AWS: [role(v.uploaderRole)] }, Action: ['kms:GenerateDataKey'], Resource: ['*'], Condition: throughS3ForBucket },
        { Sid: 'UploaderDecryptThroughS3ForMultipart', Effect: 'Allow', Principal: { AWS: [role(v.uploaderRole)] }, Action: ['kms:Decrypt'], Resource: ['*'], Condition: throughS3ForBucket },
        { Sid: 'DownloaderDecryptThroughS3', Effect: 'Allow', Principal: { AWS: [role(v.downloaderRole)] }, Action: ['kms:Decrypt'], Resource: ['*'], Condition: throughS3ForBucket },
        { Sid: 'ServicesDescribeKey', Effect: 'Allow', Principal: { AWS: services }, Action: ['kms:DescribeKey'], Resource: ['*'] },
        // Long-term keys carry no MFA key at all: IfExists makes their absence count as "no MFA".
        { Sid: 'DenySensitiveOperationsWithoutMfa', Effect: 'Deny', Principal: { AWS: ['*'] }, Action: [...MFA_SENSITIVE_ACTIONS], Resource: ['*'], Condition: { BoolIfExists: { 'aws:MultiFactorAuthPresent': ['false'] } } },
        // Explicit denies beat every allow, grants included: no grant can give these principals use of the key.
        { Sid: 'DenyUseToAdministratorsAndAuditor', Effect: 'Deny', Principal: { AWS: neverUse }, Action: [...KEY_CRYPTO_ACTIONS], Resource: ['*'] },
        { Sid: 'DenyUseToAnyoneButTheServices', Effect: 'Deny', Principal: { AWS: ['*'] }, Action: [...KEY_CRYPTO_ACTIONS], Resource: ['*'], Condition: { ArnNotEquals: { 'aws:PrincipalArn': services } } },
        { Sid: 'DenyUseOutsideS3', Effect: 'Deny', Principal: { AWS: ['*'] }, Action: [...KEY_CRYPTO_ACTIONS], Resource: ['*'], Condition: { StringNotEquals: { 'kms:ViaService': [viaS3] } } },
      )
    },
  },
  {
    name: 'account-only',
    description: 'Any principal of this account may use the key (kms:CallerAccount), on top of the default; principals of other accounts may not.',
    parameters: [account()],
    render: (v) => document(
      rootStatement(v),
      {
        Sid: 'AllowUseWithinTheAccount',
        Effect: 'Allow',
        Principal: { AWS: ['*'] },
        Action: [...KEY_USE_ACTIONS, 'kms:DescribeKey'],
        Resource: ['*'],
        Condition: { StringEquals: { 'kms:CallerAccount': [String(v.accountId)] } },
      },
    ),
  },
  {
    name: 'single-role',
    description:
      "Only one role may use the key. Written with aws:PrincipalArn, which matches the role's every session, instead of the workshop's NotPrincipal, which denies the role's own sessions.",
    parameters: [account(), { name: 'roleName', type: 'name', required: true, description: 'The only role that may use the key.' }],
    render: (v) => document(
      rootStatement(v),
      {
        Sid: 'DenyUseToAnyoneButTheRole',
        Effect: 'Deny',
        Principal: { AWS: ['*'] },
        Action: [...KEY_USE_ACTIONS],
        Resource: ['*'],
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': [`arn:aws:iam::${v.accountId}:role/${v.roleName}`] } },
      },
    ),
  },
  {
    name: 'encryption-context',
    description: 'The key may be used only with an encryption context whose key matches one of the given values (for S3: aws:s3:arn and this bucket).',
    parameters: [
      account(),
      { name: 'contextKey', type: 'conditionKey', required: false, default: 'aws:s3:arn', description: 'The encryption context key.' },
      { name: 'contextValues', type: 'strings', required: true, description: 'Allowed values (wildcards * and ? allowed).' },
    ],
    render: (v) => document(
      rootStatement(v),
      {
        Sid: 'DenyUseWithoutTheEncryptionContext',
        Effect: 'Deny',
        Principal: { AWS: ['*'] },
        Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext'],
        Resource: ['*'],
        Condition: { StringNotLike: { [`kms:EncryptionContext:${v.contextKey}`]: [...(v.contextValues as string[])] } },
      },
    ),
  },
  {
    name: 'mfa-sensitive',
    description:
      'PutKeyPolicy, ScheduleKeyDeletion, DisableKey, DeleteImportedKeyMaterial, DeleteAlias, UpdateAlias and CreateGrant only with MFA authenticated less than maxAuthAgeSeconds ago (aws:MultiFactorAuthAge, spelt without the workshop\'s space). AWS gives MFA sessions only to IAM users.',
    parameters: [
      account(),
      { name: 'mfaPrincipals', type: 'arns', required: true, description: 'IAM users with MFA devices who perform the sensitive operations.' },
      { name: 'maxAuthAgeSeconds', type: 'seconds', required: false, default: 300, description: 'How old the MFA authentication may be.' },
    ],
    render: (v) => {
      const age = String(v.maxAuthAgeSeconds)
      return document(
        rootStatement(v),
        {
          Sid: 'SensitiveOperationsWithRecentMfa',
          Effect: 'Allow',
          Principal: { AWS: [...(v.mfaPrincipals as string[])] },
          Action: [...MFA_SENSITIVE_ACTIONS],
          Resource: ['*'],
          Condition: { NumericLessThan: { 'aws:MultiFactorAuthAge': [age] } },
        },
        // Long-term keys carry no MFA key at all: IfExists makes their absence count as "no MFA".
        { Sid: 'DenySensitiveOperationsWithoutMfa', Effect: 'Deny', Principal: { AWS: ['*'] }, Action: [...MFA_SENSITIVE_ACTIONS], Resource: ['*'], Condition: { BoolIfExists: { 'aws:MultiFactorAuthPresent': ['false'] } } },
        { Sid: 'DenySensitiveOperationsWithStaleMfa', Effect: 'Deny', Principal: { AWS: ['*'] }, Action: [...MFA_SENSITIVE_ACTIONS], Resource: ['*'], Condition: { NumericGreaterThanEquals: { 'aws:MultiFactorAuthAge': [age] } } },
      )
    },
  },
  {
    name: 'vpce-only',
    description:
      'Direct use of the key only through the given VPC endpoints. Calls AWS services make for the caller (SSE-KMS through S3) carry no VPC endpoint, so they are exempt (aws:ViaAWSService) — the workshop\'s version blocks them.',
    parameters: [account(), { name: 'vpceIds', type: 'vpceIds', required: true, description: 'VPC endpoint ids (vpce-…) through which the key may be used.' }],
    render: (v) => document(
      rootStatement(v),
      {
        Sid: 'DenyDirectUseOutsideTheVpcEndpoints',
        Effect: 'Deny',
        Principal: { AWS: ['*'] },
        Action: [...KEY_USE_ACTIONS],
        Resource: ['*'],
        Condition: {
          StringNotEquals: { 'aws:SourceVpce': [...(v.vpceIds as string[])] },
          Bool: { 'aws:ViaAWSService': ['false'] },
        },
      },
    ),
  },
]

export function findTemplate(name: string): PolicyTemplate | undefined {
  return POLICY_TEMPLATES.find((t) => t.name === name)
}

function checkValue(p: TemplateParameter, value: unknown): string | number | string[] {
  const fail = (what: string): never => {
    throw new TemplateParameterError(p.name, `${p.name}: ${what}`)
  }
  const list = (re: RegExp, what: string): string[] => {
    const items = typeof value === 'string' ? [value] : value
    if (!Array.isArray(items) || items.length === 0 || items.some((i) => typeof i !== 'string')) return fail(`expected one or more ${what}`)
    for (const item of items as string[]) if (!re.test(item)) fail(`${JSON.stringify(item)} is not ${what}`)
    return [...new Set(items as string[])]
  }
  const one = (re: RegExp, what: string): string => {
    if (typeof value !== 'string' || !re.test(value)) return fail(`${JSON.stringify(value)} is not ${what}`)
    return value
  }
  switch (p.type) {
    case 'accountId': return one(ACCOUNT_ID, 'a 12-digit account id')
    case 'region': return one(REGION, 'a region such as eu-west-1')
    case 'bucket': return one(BUCKET, 'a bucket name')
    case 'name': return one(NAME, 'an IAM role or user name')
    case 'conditionKey': return one(CONDITION_KEY, 'an encryption context key')
    case 'arns': return list(PRINCIPAL_ARN, 'principal ARNs (arn:aws:iam::ACCOUNT:role/NAME, user/NAME or root)')
    case 'vpceIds': return list(VPCE_ID, 'VPC endpoint ids (vpce- and 8 to 17 hex digits)')
    case 'strings': return list(/^.{1,1024}$/s, 'non-empty strings')
    case 'seconds': {
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 129_600) return fail('expected whole seconds from 1 to 129600')
      return n
    }
  }
}

/**
 * Renders a template with the given values (defaults filled in) as pretty JSON text and as a document.
 * Throws TemplateParameterError for an unknown template parameter, a missing one, or a malformed value.
 */
export function renderTemplate(template: PolicyTemplate, given: Record<string, unknown>): { policy: string; document: PolicyDocument; values: TemplateValues } {
  const known = new Set(template.parameters.map((p) => p.name))
  for (const name of Object.keys(given)) {
    if (!known.has(name)) throw new TemplateParameterError(name, `${name}: not a parameter of ${template.name} (parameters: ${[...known].join(', ')})`)
  }
  const values: TemplateValues = {}
  for (const p of template.parameters) {
    const value = given[p.name] ?? p.default
    if (value === undefined) throw new TemplateParameterError(p.name, `${p.name}: required (${p.description})`)
    values[p.name] = checkValue(p, value)
  }
  const doc = template.render(values)
  return { policy: `${JSON.stringify(doc, null, 2)}\n`, document: doc, values }
}
