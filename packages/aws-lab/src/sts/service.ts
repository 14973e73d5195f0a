// STS (query protocol): GetCallerIdentity, GetSessionToken, AssumeRole, with MFA codes checked.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html
import type { NamedPolicy } from '@kms-share/policy'
import { AwsError, type Operation, type OperationContext, type ServiceDefinition } from '../core/types.js'
import type { IamModel } from '../iam/model.js'
import { invalidMfaCode, unknownMfaSerial, type SessionRecord, type StsModel } from './model.js'

const SESSION_NAME = /^[\w+=,.@-]{2,64}$/

/**
 * The members' constraints from STS's API model, checked before anything else and reported together as
 * AWS does ("1 validation error detected: …", "2 validation errors detected: …; …").
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html
 */
function checkMembers(input: Record<string, string>, rules: Array<[member: string, wire: string, min: number, max: number, pattern?: [RegExp, string]]>): void {
  const errors: string[] = []
  for (const [member, wire, min, max, pattern] of rules) {
    const value = input[member]
    if (value === undefined) continue
    const at = `Value '${value}' at '${wire}' failed to satisfy constraint: Member must`
    if (value.length < min) errors.push(`${at} have length greater than or equal to ${min}`)
    else if (value.length > max) errors.push(`${at} have length less than or equal to ${max}`)
    if (pattern && !pattern[0].test(value)) errors.push(`${at} satisfy regular expression pattern: ${pattern[1]}`)
  }
  if (errors.length) throw new AwsError('ValidationError', `${errors.length} validation error${errors.length > 1 ? 's' : ''} detected: ${errors.join('; ')}`, 400)
}

const SERIAL_PATTERN: [RegExp, string] = [/^[\w+=/:,.@-]*$/, '[\\w+=/:,.@-]*']
const TOKEN_CODE_PATTERN: [RegExp, string] = [/^\d*$/, '[\\d]*']
const SESSION_NAME_PATTERN: [RegExp, string] = [/^[\w+=,.@-]*$/, '[\\w+=,.@-]*']

/** AssumeRole's RoleArn must at least be an ARN: `arn`, a partition, a service, and a resource after the account. */
function checkRoleArn(roleArn: string | undefined): void {
  const parts = (roleArn ?? '').split(':')
  const resource = parts.slice(5).join(':')
  if (parts.length < 6 || parts[0] !== 'arn' || !parts[1] || !parts[2] || !resource) throw new AwsError('ValidationError', `${roleArn} is invalid`, 400)
}

function duration(input: Record<string, string>, min: number, max: number, fallback: number, chained = false): number {
  if (input.DurationSeconds === undefined) return fallback
  const value = Number(input.DurationSeconds)
  if (!Number.isInteger(value) || value < min) {
    throw new AwsError('ValidationError', `1 validation error detected: Value '${input.DurationSeconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to ${min}`, 400)
  }
  if (value > max) {
    throw new AwsError('ValidationError', chained ? 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.' : 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.', 400)
  }
  return value
}

/** Query protocol members: strings by their API names. */
type StsInput = Record<string, string>
interface CredentialsOutput {
  Credentials: ReturnType<typeof credentialsOutput>
}
interface AssumeRoleOutput extends CredentialsOutput {
  AssumedRoleUser: { AssumedRoleId: string; Arn: string }
}

function credentialsOutput(s: SessionRecord) {
  return {
    AccessKeyId: s.AccessKeyId,
    SecretAccessKey: s.SecretAccessKey,
    SessionToken: s.SessionToken,
    Expiration: new Date(s.expiresAt ?? Date.now() + 3600_000),
  }
}

/** CloudTrail's expiration format in STS responseElements: `Nov 29, 2026, 8:59:00 PM` (UTC). */
function trailExpiration(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
  const h = date.getUTCHours()
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${months[date.getUTCMonth()]} ${date.getUTCDate()}, ${date.getUTCFullYear()}, ${h % 12 || 12}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} ${h < 12 ? 'AM' : 'PM'}`
}

/** What CloudTrail records of issued credentials: the key id, the session token and the expiry — never the secret key. */
function trailCredentials(c: { AccessKeyId: string; SessionToken: string; Expiration: Date }) {
  return { accessKeyId: c.AccessKeyId, sessionToken: c.SessionToken, expiration: trailExpiration(c.Expiration) }
}

/** The MFA device named by SerialNumber must belong to the caller (GetSessionToken) and the code must be current. */
function checkMfa(iam: IamModel, sts: StsModel, input: Record<string, string>, userName: string | undefined): number | undefined {
  if (input.SerialNumber === undefined && input.TokenCode === undefined) return undefined
  if (!input.SerialNumber || !input.TokenCode) {
    throw new AwsError('ValidationError', 'SerialNumber and TokenCode must be provided together.', 400)
  }
  const devices = iam.state.mfaDevices
  const device = Object.hasOwn(devices, input.SerialNumber) ? devices[input.SerialNumber] : undefined
  if (!device || !device.UserName || (userName !== undefined && device.UserName !== userName)) throw unknownMfaSerial()
  // A code that is wrong, or right but already used for this device, gets the same answer.
  if (!sts.useMfaCode(device.SerialNumber, device.Base32StringSeed, input.TokenCode)) throw invalidMfaCode()
  return Date.now()
}

export function createStsService(iam: IamModel, sts: StsModel): ServiceDefinition {
  return {
    name: 'sts',
    signingName: 'sts',
    eventSource: 'sts.amazonaws.com',
    accessDenied: { code: 'AccessDenied', status: 403 },
    operations: {
      // Needs no permission: AWS answers GetCallerIdentity even when every action is denied.
      GetCallerIdentity: {
        readOnly: true,
        authorize: () => [],
        run: (_input, ctx: OperationContext) => ({
          UserId: ctx.caller.userId,
          Account: ctx.caller.principal.accountId,
          Arn: ctx.caller.principal.arn,
        }),
      },
      // Reads what EC2 encoded into an UnauthorizedOperation message (the lab's encoding is base64url JSON, AWS's is encrypted).
      // https://docs.aws.amazon.com/STS/latest/APIReference/API_DecodeAuthorizationMessage.html
      DecodeAuthorizationMessage: {
        readOnly: true,
        authorize: () => [{ action: 'sts:DecodeAuthorizationMessage', resource: '*' }],
        run: (input: Record<string, string>) => {
          let decoded: unknown
          try {
            decoded = JSON.parse(Buffer.from(input.EncodedMessage ?? '', 'base64url').toString('utf8'))
          } catch {
            decoded = undefined
          }
          if (!decoded || typeof decoded !== 'object') throw new AwsError('InvalidAuthorizationMessageException', 'The message is not a valid encoded authorization message.', 400)
          return { DecodedMessage: JSON.stringify(decoded) }
        },
      } satisfies Operation<StsInput, { DecodedMessage: string }>,
      GetSessionToken: {
        readOnly: true,
        // Only IAM users' long-term keys may call it; no policy check applies.
        authorize: () => [],
        requestParameters: (input) => ({ durationSeconds: input.DurationSeconds ? Number(input.DurationSeconds) : undefined, serialNumber: input.SerialNumber }),
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html (STS responseElements)
        responseElements: (output) => ({ credentials: trailCredentials(output.Credentials) }),
        run: (input: Record<string, string>, ctx: OperationContext) => {
          const caller = ctx.caller
          checkMembers(input, [['SerialNumber', 'serialNumber', 9, 256, SERIAL_PATTERN], ['TokenCode', 'tokenCode', 6, 6, TOKEN_CODE_PATTERN]])
          if (caller.principal.type !== 'user' || caller.sessionIssuedAt !== undefined) {
            throw new AwsError('AccessDenied', 'Cannot call GetSessionToken with session credentials', 403)
          }
          const seconds = duration(input, 900, 129_600, 43_200)
          const mfaAuthTime = checkMfa(iam, sts, input, caller.userName)
          const session = sts.issue({ kind: 'user', userName: caller.userName, expiresAt: Date.now() + seconds * 1000, mfaAuthTime })
          return { Credentials: credentialsOutput(session) }
        },
      } satisfies Operation<StsInput, CredentialsOutput>,
      AssumeRole: {
        authorize: (input: Record<string, string>, ctx: OperationContext) => {
          // Malformed input is a 400 before any authorisation question (recorded: LocalStack test_sts.py::test_sts_invalid_parameters).
          checkMembers(input, [
            ['RoleSessionName', 'roleSessionName', 2, 64, SESSION_NAME_PATTERN],
            ['SerialNumber', 'serialNumber', 9, 256, SERIAL_PATTERN],
            ['TokenCode', 'tokenCode', 6, 6, TOKEN_CODE_PATTERN],
          ])
          checkRoleArn(input.RoleArn)
          const roleName = String(input.RoleArn ?? '').split('/').pop() ?? ''
          const role = iam.state.roles[roleName]
          if (!role || role.Arn !== input.RoleArn) {
            return [{ action: 'sts:AssumeRole', resource: String(input.RoleArn ?? '*') }]
          }
          const trust: NamedPolicy = { name: `trust-policy:${role.RoleName}`, document: iam.document(role.AssumeRolePolicyDocument) }
          const context: Record<string, string> = {}
          // A code sent with the call authenticates this request with MFA (checked again in run).
          if (input.SerialNumber && input.TokenCode) {
            context['aws:MultiFactorAuthPresent'] = 'true'
            context['aws:MultiFactorAuthAge'] = '0'
          }
          void ctx
          // Trust policies must allow, like key policies: naming the account root delegates to IAM policies.
          return [{ action: 'sts:AssumeRole', resource: role.Arn, resourcePolicy: trust, resourceAccount: iam.accountId, resourcePolicyRequired: true, context }]
        },
        requestParameters: (input) => ({ roleArn: input.RoleArn, roleSessionName: input.RoleSessionName, durationSeconds: input.DurationSeconds ? Number(input.DurationSeconds) : undefined, serialNumber: input.SerialNumber }),
        responseElements: (output) => ({
          credentials: trailCredentials(output.Credentials),
          assumedRoleUser: { assumedRoleId: output.AssumedRoleUser.AssumedRoleId, arn: output.AssumedRoleUser.Arn },
        }),
        run: (input: Record<string, string>, ctx: OperationContext) => {
          const roleName = String(input.RoleArn ?? '').split('/').pop() ?? ''
          const role = iam.state.roles[roleName]
          if (!role) throw new AwsError('AccessDenied', `User: ${ctx.caller.principal.arn} is not authorized to perform: sts:AssumeRole on resource: ${input.RoleArn}`, 403)
          if (!SESSION_NAME.test(String(input.RoleSessionName ?? ''))) {
            throw new AwsError('ValidationError', `1 validation error detected: Value '${input.RoleSessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`, 400)
          }
          // Role chaining caps sessions at one hour, as AWS does, and says so.
          // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining
          const chained = ctx.caller.principal.type === 'assumed-role'
          const seconds = duration(input, 900, chained ? 3600 : role.MaxSessionDuration, 3600, chained)
          const mfaAuthTime = checkMfa(iam, sts, input, ctx.caller.principal.type === 'user' ? ctx.caller.userName : undefined) ?? (ctx.caller.mfaAuthenticated ? ctx.caller.mfaAuthTime : undefined)
          const session = sts.issue({ kind: 'role', roleName: role.RoleName, roleId: role.RoleId, sessionName: input.RoleSessionName, expiresAt: Date.now() + seconds * 1000, mfaAuthTime })
          return {
            Credentials: credentialsOutput(session),
            AssumedRoleUser: { AssumedRoleId: `${role.RoleId}:${input.RoleSessionName}`, Arn: `arn:aws:sts::${iam.accountId}:assumed-role/${role.RoleName}/${input.RoleSessionName}` },
          }
        },
      } satisfies Operation<StsInput, AssumeRoleOutput>,
    },
  }
}
