// STS state: temporary credentials (role sessions and user sessions) and MFA code checks.
import { Secret, TOTP } from 'otpauth'
import { AwsError, type StateStore } from '../core/types.js'
import { awsId, secretKey, sessionToken } from '../core/arn.js'

export interface SessionRecord {
  AccessKeyId: string
  SecretAccessKey: string
  SessionToken: string
  /** Epoch ms; absent for the lab's profile sessions, which live as long as the lab's data. */
  expiresAt?: number
  issuedAt: number
  kind: 'role' | 'user'
  roleName?: string
  roleId?: string
  sessionName?: string
  userName?: string
  mfaAuthTime?: number
  /** Role credentials EC2 delivered through an instance's metadata: ec2:SourceInstanceARN and ec2:RoleDelivery. */
  ec2?: { sourceInstanceArn: string; roleDelivery: string }
}

export interface StsState {
  sessions: Record<string, SessionRecord>
}

export const MFA_DIGITS = 6
export const MFA_PERIOD = 30

export function totpFor(seedBase32: string, label = 'lab', issuer = 'aws-lab'): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: MFA_DIGITS, period: MFA_PERIOD, secret: Secret.fromBase32(seedBase32) })
}

/** A TOTP code is accepted in the current 30-second window or either neighbour. */
export function checkTotp(seedBase32: string, code: string): boolean {
  if (!/^\d{6}$/.test(code)) return false
  return totpFor(seedBase32).validate({ token: code, window: 1 }) !== null
}

export const invalidMfaCode = () => new AwsError('AccessDenied', 'MultiFactorAuthentication failed with invalid MFA one time pass code.', 403)

export class StsModel {
  constructor(private readonly store: StateStore) {}

  get state(): StsState {
    return this.store.section<StsState>('sts', () => ({ sessions: {} }))
  }

  session(accessKeyId: string): SessionRecord | undefined {
    return this.state.sessions[accessKeyId]
  }

  issue(fields: Omit<SessionRecord, 'AccessKeyId' | 'SecretAccessKey' | 'SessionToken' | 'issuedAt'> & { issuedAt?: number }): SessionRecord {
    const now = Date.now()
    // Drop sessions that expired more than a day ago so the section stays small.
    for (const [id, s] of Object.entries(this.state.sessions)) if (s.expiresAt !== undefined && s.expiresAt < now - 86_400_000) delete this.state.sessions[id]
    const record: SessionRecord = { AccessKeyId: awsId('ASIA'), SecretAccessKey: secretKey(), SessionToken: sessionToken(), issuedAt: now, ...fields }
    this.state.sessions[record.AccessKeyId] = record
    this.store.save('sts')
    return record
  }
}
