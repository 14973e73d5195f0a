// Access key → signing secret and Caller, from IAM users' keys and STS sessions, resolved per request.
import { assumedRoleArn, roleArn, userArn } from './arn.js'
import type { Caller } from './types.js'
import type { SigningSecret } from './signing.js'
import type { IamModel } from '../iam/model.js'
import type { StsModel } from '../sts/model.js'

export class CredentialResolver {
  constructor(private readonly iam: IamModel, private readonly sts: StsModel) {}

  lookup(accessKeyId: string): SigningSecret | undefined {
    const key = this.iam.state.accessKeys[accessKeyId]
    if (key) return key.Status === 'Active' && this.iam.state.users[key.UserName] ? { secretAccessKey: key.SecretAccessKey } : undefined
    const session = this.sts.session(accessKeyId)
    if (!session) return undefined
    // A session outlives neither its role nor its user.
    if (session.kind === 'role' && !this.iam.state.roles[session.roleName ?? '']) return undefined
    if (session.kind === 'user' && !this.iam.state.users[session.userName ?? '']) return undefined
    return { secretAccessKey: session.SecretAccessKey, sessionToken: session.SessionToken, expiresAt: session.expiresAt }
  }

  /** The caller behind a verified access key; identity policies are read from current IAM state. */
  caller(accessKeyId: string): Caller {
    const account = this.iam.accountId
    const key = this.iam.state.accessKeys[accessKeyId]
    if (key) {
      const user = this.iam.user(key.UserName)
      return {
        principal: { arn: user.Arn, type: 'user', accountId: account },
        accessKeyId,
        userId: user.UserId,
        userName: user.UserName,
        mfaAuthenticated: false,
        identityPolicies: this.iam.identityPolicies('user', user.UserName),
      }
    }
    const session = this.sts.session(accessKeyId)
    if (!session) throw new Error(`no credentials for ${accessKeyId}`)
    if (session.kind === 'user') {
      const user = this.iam.user(session.userName ?? '')
      return {
        principal: { arn: user.Arn, type: 'user', accountId: account },
        accessKeyId,
        userId: user.UserId,
        userName: user.UserName,
        mfaAuthenticated: session.mfaAuthTime !== undefined,
        mfaAuthTime: session.mfaAuthTime,
        sessionIssuedAt: session.issuedAt,
        identityPolicies: this.iam.identityPolicies('user', user.UserName),
      }
    }
    const role = this.iam.role(session.roleName ?? '')
    return {
      principal: { arn: assumedRoleArn(account, role.RoleName, session.sessionName ?? ''), type: 'assumed-role', accountId: account, roleArn: role.Arn },
      accessKeyId,
      userId: `${role.RoleId}:${session.sessionName}`,
      roleName: role.RoleName,
      sessionName: session.sessionName,
      mfaAuthenticated: session.mfaAuthTime !== undefined,
      mfaAuthTime: session.mfaAuthTime,
      sessionIssuedAt: session.issuedAt,
      ...(session.ec2 ? { ec2: session.ec2 } : {}),
      identityPolicies: this.iam.identityPolicies('role', role.RoleName),
    }
  }
}

export { assumedRoleArn, roleArn, userArn }
