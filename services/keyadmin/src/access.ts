// Who can do what with a key: every IAM role and user of the account, the root, and `*` where the
// key policy names it, judged with packages/policy from the key policy and each principal's
// identity policies under the circumstances that change answers (directly, through S3, with MFA,
// through a VPC endpoint), plus the key's grants (which allow their grantee unless an explicit deny
// says otherwise). Separation-of-duties findings on top.
import { MFA_SENSITIVE_ACTIONS, type MatchedStatement, type NamedPolicy, type PolicyDocument, type RequestContext, type RequestPrincipal } from '@kms-share/policy'
import type { AccountPrincipal, IamReader } from './iam-read.js'
import { mapLimit, type KeyGrant } from './keys.js'

export type { KeyGrant }
import { awsFilledContext, decideOnKey, ROOT_IDENTITY_POLICY, type RequestCircumstances } from './simulation.js'

export const USE_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'] as const
/** The sensitive operations (MFA_SENSITIVE_ACTIONS), then the everyday ones. */
export const ADMIN_ACTIONS = [
  ...MFA_SENSITIVE_ACTIONS, 'kms:CancelKeyDeletion', 'kms:EnableKey', 'kms:TagResource', 'kms:EnableKeyRotation', 'kms:ImportKeyMaterial', 'kms:RevokeGrant',
] as const
export const READ_ACTIONS = ['kms:DescribeKey', 'kms:GetKeyPolicy'] as const
/** Administration that changes who may use the key or whether it exists (CreateGrant delegates use). */
const POWERFUL_ADMIN = new Set<string>(MFA_SENSITIVE_ACTIONS)
/** What S3 calls on the caller's behalf for SSE-KMS. */
const S3_ACTIONS = new Set(['kms:GenerateDataKey', 'kms:Decrypt'])
const ENCRYPT_ACTIONS = new Set(['kms:Encrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptTo'])

export type Access = 'always' | 'conditional' | 'never'

export interface ActionAccess {
  action: string
  category: 'use' | 'administration' | 'read'
  access: Access
  /** When conditional: the circumstances under which it is allowed. */
  conditions: string[]
  /** The statements that allowed it (first allowing circumstance), or that denied it. */
  statements: MatchedStatement[]
  deniedBy?: string
  /** Grants that allow this action to this principal. */
  grants?: GrantNote[]
}

/** A grant's part in one cell: "via grant <id>", its encryption-context constraint, who may retire it. */
export interface GrantNote {
  grantId: string
  name?: string
  label: string
  /** The encryption-context constraint, when the grant has one. */
  condition?: string
  retiringPrincipal?: string
  /** An explicit deny in a policy wins over the grant. */
  overriddenByDeny?: boolean
}

export interface PrincipalAccess {
  principal: string
  /** grantee: named only by a grant (not a role or user of the account). */
  kind: 'root' | 'role' | 'user' | 'any' | 'grantee'
  identityPolicies: string[]
  actions: ActionAccess[]
}

export interface SodFinding {
  code: 'ADMINISTER_AND_USE' | 'ENCRYPT_AND_DECRYPT_OUTSIDE_S3'
  principal: string
  message: string
}

/** One principal that can use the key at all, and how. */
export interface KeyUser {
  principal: string
  actions: Array<{ action: string; access: Access; conditions: string[] }>
}

export interface AccessMatrix {
  keyArn: string
  /** Who can use the key at all (any use action not `never`): the matrix's answer in one list. */
  usableBy: KeyUser[]
  principals: PrincipalAccess[]
  grants: KeyGrant[]
  findings: SodFinding[]
  /** Policies that could not be read or parsed (skipped). */
  skipped: string[]
}

interface Circumstance {
  label: string
  circumstances: Omit<RequestCircumstances, 'region'>
  extra?: RequestContext
  /** Only for these actions. */
  actions?: Set<string>
  usersOnly?: boolean
}

/** VPC endpoint ids the key policy's conditions name (aws:SourceVpce). */
function vpceIdsIn(doc: PolicyDocument): string[] {
  const ids = new Set<string>()
  for (const s of doc.Statement) {
    for (const block of Object.values(s.Condition ?? {})) {
      for (const [key, values] of Object.entries(block)) if (key.toLowerCase() === 'aws:sourcevpce') for (const v of values) if (/^vpce-/.test(v)) ids.add(v)
    }
  }
  return [...ids]
}

// Only an Allow can give `*` anything: a Deny naming everyone (the usual way to bound all principals) adds no row.
function namesAnyone(doc: PolicyDocument): boolean {
  return doc.Statement.some((s) => s.Effect === 'Allow' && (s.Principal === '*' || (typeof s.Principal === 'object' && (s.Principal.AWS ?? []).includes('*'))))
}

export interface AccessInput {
  keyArn: string
  accountId: string
  region: string
  bucket: string
  keyPolicy: PolicyDocument
  reader: IamReader
  grants?: KeyGrant[]
}

/** "when the encryption context equals {…}" / "includes {…}": the grant's constraint as a condition. */
export function grantCondition(g: KeyGrant): string | undefined {
  const parts: string[] = []
  if (g.constraints?.EncryptionContextEquals) parts.push(`the encryption context equals ${JSON.stringify(g.constraints.EncryptionContextEquals)}`)
  if (g.constraints?.EncryptionContextSubset) parts.push(`the encryption context includes ${JSON.stringify(g.constraints.EncryptionContextSubset)}`)
  return parts.length > 0 ? `when ${parts.join(' and ')}` : undefined
}

/** Merges each grant into its grantee's row (a new row when the grantee is not listed); an explicit deny wins over a grant. */
function applyGrants(principals: PrincipalAccess[], grants: KeyGrant[], explicitlyDenied: Set<string>): void {
  const categoryOf = (action: string): ActionAccess['category'] => (USE_ACTIONS as readonly string[]).includes(action) ? 'use' : (ADMIN_ACTIONS as readonly string[]).includes(action) ? 'administration' : 'read'
  for (const g of grants) {
    let row = principals.find((p) => p.principal === g.granteePrincipal)
    if (!row) {
      row = { principal: g.granteePrincipal, kind: 'grantee', identityPolicies: [], actions: [...USE_ACTIONS, ...ADMIN_ACTIONS, ...READ_ACTIONS].map((action) => ({ action, category: categoryOf(action), access: 'never', conditions: [], statements: [] })) }
      principals.push(row)
    }
    const condition = grantCondition(g)
    for (const op of g.operations) {
      const action = `kms:${op}`
      let cell = row.actions.find((a) => a.action === action)
      if (!cell) {
        // Operations outside the matrix's columns (RetireGrant, Sign, …) still show up under their grantee.
        cell = { action, category: op === 'RetireGrant' ? 'administration' : 'use', access: 'never', conditions: [], statements: [] }
        row.actions.push(cell)
      }
      const denied = explicitlyDenied.has(`${row.principal}|${action}`)
      const note: GrantNote = {
        grantId: g.grantId, label: `via grant ${g.grantId}${condition ? `, ${condition}` : ''}`,
        ...(g.name ? { name: g.name } : {}), ...(condition ? { condition } : {}), ...(g.retiringPrincipal ? { retiringPrincipal: g.retiringPrincipal } : {}), ...(denied ? { overriddenByDeny: true } : {}),
      }
      cell.grants = [...(cell.grants ?? []), note]
      if (denied || cell.access === 'always') continue
      if (condition) {
        cell.access = 'conditional'
        cell.conditions.push(note.label)
      } else {
        cell.access = 'always'
        cell.conditions = []
      }
      delete cell.deniedBy
    }
  }
}

export async function accessMatrix(input: AccessInput): Promise<AccessMatrix> {
  const { keyArn, accountId, region, bucket, keyPolicy, reader } = input
  const object = `arn:aws:s3:::${bucket}/object`
  const s3Context = (arn: string): RequestContext => ({ 'kms:EncryptionContext:aws:s3:arn': arn, 'kms:EncryptionContextKeys': ['aws:s3:arn'] })
  const circumstances: Circumstance[] = [
    { label: 'directly', circumstances: {} },
    { label: `only through S3, for ${bucket}'s objects`, circumstances: { viaS3: true }, extra: s3Context(object), actions: S3_ACTIONS },
    { label: 'only through S3', circumstances: { viaS3: true }, extra: s3Context('arn:aws:s3:::another-bucket/object'), actions: S3_ACTIONS },
    { label: 'only with MFA', circumstances: { mfaAgeSeconds: 0 }, usersOnly: true },
    ...vpceIdsIn(keyPolicy).map((id) => ({ label: `only through ${id}`, circumstances: { sourceVpce: id } })),
  ]

  const accountPrincipals = await reader.principals()
  const subjects: Array<{ label: string; kind: PrincipalAccess['kind']; principal: RequestPrincipal; policies: NamedPolicy[] }> = [
    { label: `arn:aws:iam::${accountId}:root`, kind: 'root', principal: { arn: `arn:aws:iam::${accountId}:root`, type: 'root', accountId }, policies: [ROOT_IDENTITY_POLICY] },
  ]
  // A few principals at a time: an account can have many, and each needs several IAM calls.
  const entityPolicies = await mapLimit(accountPrincipals, 4, (p) => reader.identityPolicies(p))
  accountPrincipals.forEach((p: AccountPrincipal, i) => {
    const principal: RequestPrincipal = p.kind === 'role'
      ? { arn: `arn:aws:sts::${accountId}:assumed-role/${p.name}/session`, type: 'assumed-role', accountId, roleArn: p.arn }
      : { arn: p.arn, type: 'user', accountId }
    subjects.push({ label: p.arn, kind: p.kind, principal, policies: entityPolicies[i] })
  })
  if (namesAnyone(keyPolicy)) {
    // `*` as any principal of the account that holds no IAM permissions: what the key policy alone grants.
    subjects.push({ label: '*', kind: 'any', principal: { arn: `arn:aws:sts::${accountId}:assumed-role/any-principal/session`, type: 'assumed-role', accountId, roleArn: `arn:aws:iam::${accountId}:role/any-principal` }, policies: [] })
  }

  const explicitlyDenied = new Set<string>()
  const principals: PrincipalAccess[] = subjects.map((subject) => {
    const actions: ActionAccess[] = []
    for (const [category, list] of [['use', USE_ACTIONS], ['administration', ADMIN_ACTIONS], ['read', READ_ACTIONS]] as const) {
      for (const action of list) {
        const allowedIn: string[] = []
        let statements: MatchedStatement[] | undefined
        let denial: { statements: MatchedStatement[]; deniedBy?: string } | undefined
        for (const c of circumstances) {
          if (c.actions && !c.actions.has(action)) continue
          if (c.usersOnly && subject.kind !== 'user') continue
          const context = { ...awsFilledContext(subject.principal, { region, ...c.circumstances }), ...(c.extra ?? {}) }
          const result = decideOnKey({ principal: subject.principal, action, keyArn, accountId, keyPolicy, identityPolicies: subject.policies, context })
          if (result.decision === 'Allowed') {
            allowedIn.push(c.label)
            statements ??= result.decidingStatements
          } else if (c.label === 'directly') {
            denial = { statements: result.decidingStatements, ...(result.deniedBy ? { deniedBy: result.deniedBy } : {}) }
            if (result.decision === 'ExplicitlyDenied') explicitlyDenied.add(`${subject.label}|${action}`)
          }
        }
        const direct = allowedIn.includes('directly')
        // Through S3 for any bucket covers "for this bucket's objects".
        const conditions = allowedIn.filter((l) => l !== 'directly').filter((l, _i, all) => !(l.startsWith('only through S3, for') && all.includes('only through S3')))
        actions.push({
          action,
          category,
          access: direct ? 'always' : conditions.length > 0 ? 'conditional' : 'never',
          conditions: direct ? [] : conditions,
          statements: statements ?? denial?.statements ?? [],
          ...(!direct && conditions.length === 0 && denial?.deniedBy ? { deniedBy: denial.deniedBy } : {}),
        })
      }
    }
    return { principal: subject.label, kind: subject.kind, identityPolicies: subject.policies.map((p) => p.name), actions }
  })
  const grants = input.grants ?? []
  applyGrants(principals, grants, explicitlyDenied)

  const findings: SodFinding[] = []
  for (const p of principals) {
    if (p.kind === 'root') continue
    const can = (a: ActionAccess) => a.access !== 'never'
    const admin = p.actions.filter((a) => POWERFUL_ADMIN.has(a.action) && can(a)).map((a) => a.action)
    const use = p.actions.filter((a) => a.category === 'use' && can(a)).map((a) => a.action)
    if (admin.length > 0 && use.length > 0) {
      findings.push({ code: 'ADMINISTER_AND_USE', principal: p.principal, message: `${p.principal} can both administer the key (${admin.join(', ')}) and use it (${use.join(', ')})` })
    }
    // A grant is used by calling KMS directly, whatever its constraint: it counts as outside S3.
    const outsideS3 = (a: ActionAccess) => a.access === 'always' || (a.grants ?? []).some((g) => !g.overriddenByDeny)
    const encryptDirect = p.actions.filter((a) => ENCRYPT_ACTIONS.has(a.action) && outsideS3(a)).map((a) => a.action)
    const decryptDirect = p.actions.some((a) => a.action === 'kms:Decrypt' && outsideS3(a))
    if (encryptDirect.length > 0 && decryptDirect) {
      findings.push({ code: 'ENCRYPT_AND_DECRYPT_OUTSIDE_S3', principal: p.principal, message: `${p.principal} can both encrypt (${encryptDirect.join(', ')}) and decrypt outside S3` })
    }
  }
  const usableBy = principals.flatMap((p) => {
    const actions = p.actions.filter((a) => a.category === 'use' && a.access !== 'never').map((a) => ({ action: a.action, access: a.access, conditions: a.conditions }))
    return actions.length > 0 ? [{ principal: p.principal, actions }] : []
  })
  return { keyArn, usableBy, principals, grants, findings, skipped: [...reader.skipped] }
}
