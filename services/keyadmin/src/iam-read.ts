// Reading the account's principals and their identity policies from IAM (read-only), for the
// access matrix, simulation and the lockout check. One reader per request caches managed policies.
import {
  GetPolicyCommand, GetPolicyVersionCommand, GetRolePolicyCommand, GetUserPolicyCommand, ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand, ListRolePoliciesCommand, ListRolesCommand, ListUserPoliciesCommand, ListUsersCommand, type IAMClient,
} from '@aws-sdk/client-iam'
import { parsePolicy, type NamedPolicy } from '@kms-share/policy'
import { aws } from './aws-errors.js'

export interface AccountPrincipal {
  kind: 'role' | 'user'
  name: string
  arn: string
}

/** Policy documents come URL-encoded from IAM's query API (the SDK does not decode them). */
function decodeDocument(text: string | undefined): string {
  if (!text) return ''
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

export class IamReader {
  private readonly managed = new Map<string, Promise<NamedPolicy | undefined>>()
  // Read once per reader: a dry run judges the current and the proposed policy with the same principals.
  private listed: Promise<AccountPrincipal[]> | undefined
  private readonly entities = new Map<string, Promise<NamedPolicy[]>>()
  /** Policies that could not be read or parsed, named for the explanation. */
  readonly skipped: string[] = []

  constructor(private readonly iam: IAMClient) {}

  principals(): Promise<AccountPrincipal[]> {
    this.listed ??= this.listPrincipals()
    return this.listed
  }

  private async listPrincipals(): Promise<AccountPrincipal[]> {
    const out: AccountPrincipal[] = []
    let marker: string | undefined
    do {
      const page = await aws(this.iam.send(new ListRolesCommand({ Marker: marker })), { action: 'iam:ListRoles' })
      for (const r of page.Roles ?? []) out.push({ kind: 'role', name: r.RoleName ?? '', arn: r.Arn ?? '' })
      marker = page.IsTruncated ? page.Marker : undefined
    } while (marker)
    do {
      const page = await aws(this.iam.send(new ListUsersCommand({ Marker: marker })), { action: 'iam:ListUsers' })
      for (const u of page.Users ?? []) out.push({ kind: 'user', name: u.UserName ?? '', arn: u.Arn ?? '' })
      marker = page.IsTruncated ? page.Marker : undefined
    } while (marker)
    return out
  }

  private named(name: string, text: string): NamedPolicy | undefined {
    const parsed = parsePolicy(text)
    if (!parsed.document) {
      this.skipped.push(name)
      return undefined
    }
    return { name, document: parsed.document }
  }

  private managedPolicy(arn: string): Promise<NamedPolicy | undefined> {
    let p = this.managed.get(arn)
    if (!p) {
      p = (async () => {
        const policy = await aws(this.iam.send(new GetPolicyCommand({ PolicyArn: arn })), { action: 'iam:GetPolicy' })
        const version = await aws(this.iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: policy.Policy?.DefaultVersionId })), { action: 'iam:GetPolicyVersion' })
        return this.named(policy.Policy?.PolicyName ?? arn, decodeDocument(version.PolicyVersion?.Document))
      })()
      this.managed.set(arn, p)
    }
    return p
  }

  /** The inline and attached (default version) policies of a role or user. */
  identityPolicies(principal: Pick<AccountPrincipal, 'kind' | 'name'>): Promise<NamedPolicy[]> {
    const id = `${principal.kind}/${principal.name}`
    let p = this.entities.get(id)
    if (!p) {
      p = this.readIdentityPolicies(principal)
      this.entities.set(id, p)
    }
    return p
  }

  private async readIdentityPolicies(principal: Pick<AccountPrincipal, 'kind' | 'name'>): Promise<NamedPolicy[]> {
    const { kind, name } = principal
    const inlineNames = kind === 'role'
      ? (await aws(this.iam.send(new ListRolePoliciesCommand({ RoleName: name })), { action: 'iam:ListRolePolicies' })).PolicyNames ?? []
      : (await aws(this.iam.send(new ListUserPoliciesCommand({ UserName: name })), { action: 'iam:ListUserPolicies' })).PolicyNames ?? []
    const attached = kind === 'role'
      ? (await aws(this.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name })), { action: 'iam:ListAttachedRolePolicies' })).AttachedPolicies ?? []
      : (await aws(this.iam.send(new ListAttachedUserPoliciesCommand({ UserName: name })), { action: 'iam:ListAttachedUserPolicies' })).AttachedPolicies ?? []
    const inline = await Promise.all(inlineNames.map(async (policyName) => {
      const text = kind === 'role'
        ? (await aws(this.iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: policyName })), { action: 'iam:GetRolePolicy' })).PolicyDocument
        : (await aws(this.iam.send(new GetUserPolicyCommand({ UserName: name, PolicyName: policyName })), { action: 'iam:GetUserPolicy' })).PolicyDocument
      return this.named(policyName, decodeDocument(text))
    }))
    const managed = await Promise.all(attached.map((a) => this.managedPolicy(a.PolicyArn ?? '')))
    return [...inline, ...managed].filter((p): p is NamedPolicy => p !== undefined)
  }
}
