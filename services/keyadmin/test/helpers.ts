// Test helpers: a lab started per test file, SDK clients for its profiles, and the keyadmin
// service built from a config exactly as server.ts would build it, listening on port 0.
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { PutObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import type { KMSClient } from '@aws-sdk/client-kms'
import { createKmsClient, createS3Client, formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import type { Lab } from '@kms-share/aws-lab'
import { labProfileEnv, nextMfaCode } from '@kms-share/aws-lab/testing'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

export const BUCKET = 'kmsworkshop-111122223333'
export const ACCOUNT = '111122223333'
export const KEY_ALIAS = 'alias/ImportedCMK'

export type { Lab }
export { mfaCode, nextMfaCode, startTestLab } from '@kms-share/aws-lab/testing'
type Tap = Pick<Test, 'testdir' | 'teardown'>

/** The standard AWS variables for a lab profile. */
export const awsEnv = labProfileEnv

export const s3As = (lab: Lab, profile: string): S3Client => createS3Client(awsEnv(lab, profile))
export const kmsAs = (lab: Lab, profile: string): KMSClient => createKmsClient(awsEnv(lab, profile))

/** The scopes the key administrators' token holds (the console's: keys, and the audit trail). */
export const KEYADMIN_TEST_SCOPES = ['keys:read', 'keys:admin', 'audit:read']

export interface RunningService {
  app: FastifyInstance
  url: string
  logs: Array<Record<string, unknown>>
  /** The kms_keyadmin_ token `call` sends; undefined when the test configured AUTH_TOKENS itself. */
  token: string | undefined
  /** Authorization header with that token, to spread into a request's headers ({} without one). */
  auth: Record<string, string>
  /** fetch against the service with the token, JSON body parsed (a test's own headers win). */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>
  /** A sensitive operation: `call` with the next MFA code of userA's device in X-MFA-Code. */
  sensitive(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>
}

/** keyadmin's MFA path as `pnpm start` and compose configure it: the lab's userA and its virtual device. */
export const MFA_ENV = { KEYADMIN_MFA_PROFILE: 'userA', KEYADMIN_MFA_SERIAL: `arn:aws:iam::${ACCOUNT}:mfa/userA` }

/**
 * The keyadmin service as `profile` (keyadmin unless given), listening on a free port; closed at teardown.
 * With the MFA path on, as the stack runs it, unless `mfa: false`. Called as production calls it: with
 * a token holding `scopes` (KEYADMIN_TEST_SCOPES unless given), unless env brings its own AUTH_TOKENS.
 */
export async function startKeyadmin(t: Tap, lab: Lab, env: Record<string, string> = {}, profile = 'keyadmin', options: { mfa?: boolean; scopes?: readonly string[] } = {}): Promise<RunningService> {
  const token = env.AUTH_TOKENS === undefined ? generateToken('keyadmin') : undefined
  const tokens = token ? { AUTH_TOKENS: formatTokenEntry('keyadmin-test', options.scopes ?? KEYADMIN_TEST_SCOPES, hashToken(token)) } : {}
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  const config = loadConfig({ BUCKET, LOG_LEVEL: 'info', PORT: '0', ...tokens, ...awsEnv(lab, profile), ...(options.mfa === false ? {} : MFA_ENV), ...env })
  const logs: Array<Record<string, unknown>> = []
  const app = await buildApp(config, { logStream: { write: (line: string) => void logs.push(JSON.parse(line)) } })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('no address')
  const url = `http://127.0.0.1:${address.port}`
  const call: RunningService['call'] = async (method, path, body, headers = {}) => {
    const res = await fetch(url + path, {
      method,
      headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await res.text()
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
  }
  const sensitive: RunningService['sensitive'] = async (method, path, body, headers = {}) => call(method, path, body, { 'x-mfa-code': await nextMfaCode(lab), ...headers })
  return { app, url, logs, token, auth, call, sensitive }
}

export const enc = encodeURIComponent

/** SSE-KMS upload as a lab profile (S3 calls KMS GenerateDataKey as that caller). */
export async function putAs(lab: Lab, profile: string, key: string, body: string, kmsKey: string): Promise<void> {
  const s3 = s3As(lab, profile)
  try {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey }))
  } finally {
    s3.destroy()
  }
}

export async function getAs(lab: Lab, profile: string, key: string): Promise<string> {
  const s3 = s3As(lab, profile)
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
    return await out.Body!.transformToString()
  } finally {
    s3.destroy()
  }
}

/** The error an AWS call fails with (or throws when it succeeds). */
export async function failure(p: Promise<unknown>): Promise<Error & { name: string; $metadata?: { httpStatusCode?: number } }> {
  try {
    await p
  } catch (err) {
    return err as Error & { name: string }
  }
  throw new Error('expected the call to fail')
}
