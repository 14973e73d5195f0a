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
  /** Per MFA serial, the last TOTP time step accepted: AWS takes each code once. */
  usedMfaSteps?: Record<string, number>
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

/** The 30-second step a code belongs to (current window or a neighbour), or undefined when it is not valid now. */
export function totpStep(seedBase32: string, code: string, now = Date.now()): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined
  const delta = totpFor(seedBase32).validate({ token: code, window: 1, timestamp: now })
  return delta === null ? undefined : Math.floor(now / 1000 / MFA_PERIOD) + delta
}

/** AWS's answer when the serial number is not an MFA device of the caller. */
export const unknownMfaSerial = () =>
  new AwsError('AccessDenied', 'MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.', 403)

export const invalidMfaCode = () => new AwsError('AccessDenied', 'MultiFactorAuthentication failed with invalid MFA one time pass code.', 403)

export class StsModel {
  constructor(private readonly store: StateStore) {}

  get state(): StsState {
    return this.store.section<StsState>('sts', () => ({ sessions: {} }))
  }

  session(accessKeyId: string): SessionRecord | undefined {
    return this.state.sessions[accessKeyId]
  }

  /** Accepts a code once: a step at or before the last one used for this device is a replay. */
  useMfaCode(serial: string, seedBase32: string, code: string): boolean {
    const step = totpStep(seedBase32, code)
    if (step === undefined) return false
    const used = (this.state.usedMfaSteps ??= Object.create(null) as Record<string, number>)
    if (Object.hasOwn(used, serial) && used[serial] >= step) return false
    used[serial] = step
    this.store.save('sts')
    return true
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
