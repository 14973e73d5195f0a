// Identifiers and ARNs in AWS's formats, in one place.
import { randomBytes, randomInt } from 'node:crypto'

export const DEFAULT_ACCOUNT_ID = '111122223333'
export const DEFAULT_REGION = 'eu-west-1'

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** AWS unique ids are a 4-letter type prefix plus 16–17 base32 characters (AKIA…, ASIA…, AIDA…, AROA…, ANPA…). */
export function awsId(prefix: string, length = 16): string {
  let out = prefix
  for (let i = 0; i < length; i++) out += BASE32[randomInt(32)]
  return out
}

/** A secret access key: 40 characters of base64 like AWS's. */
export function secretKey(): string {
  return randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B')
}

export function sessionToken(): string {
  return 'IQoJb3JpZ2luX2VjE' + randomBytes(96).toString('base64')
}

export const rootArn = (account: string) => `arn:aws:iam::${account}:root`
export const userArn = (account: string, name: string, path = '/') => `arn:aws:iam::${account}:user${path}${name}`
export const roleArn = (account: string, name: string, path = '/') => `arn:aws:iam::${account}:role${path}${name}`
export const policyArn = (account: string, name: string, path = '/') => `arn:aws:iam::${account}:policy${path}${name}`
export const assumedRoleArn = (account: string, role: string, session: string) =>
  `arn:aws:sts::${account}:assumed-role/${role}/${session}`
export const mfaArn = (account: string, name: string, path = '/') => `arn:aws:iam::${account}:mfa${path}${name}`

/** `arn:aws:iam::ACCT:user/path/Name` → { account, type: 'user', name: 'Name' }. */
export function parseArn(arn: string): { partition: string; service: string; region: string; account: string; resource: string } | undefined {
  const parts = arn.split(':')
  if (parts.length < 6 || parts[0] !== 'arn') return undefined
  return { partition: parts[1], service: parts[2], region: parts[3], account: parts[4], resource: parts.slice(5).join(':') }
}

/** AWS timestamps in CloudTrail and condition keys: second precision, Z. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
