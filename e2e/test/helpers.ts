// Helpers for the end-to-end tests: the lab from @kms-share/aws-lab/testing, the services built from
// their packages' dist exactly as each server.ts builds them (port 0 unless told); AWS CLI v2 runs and
// free ports come from the lab's test helpers.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { S3Client } from '@aws-sdk/client-s3'
import type { Lab } from '@kms-share/aws-lab'
import { labProfileEnv, startTestLab, WITHOUT_STACKS } from '@kms-share/aws-lab/testing'
import { createS3Client, formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp as buildDownloadApp, loadConfig as loadDownloadConfig } from '@kms-share/download'

export { startTestLab }
export { startKeyadminInstance, type Keyadmin } from '@kms-share/keyadmin/testing'
export { AWS_CLI, eventually, labDeployment, nextMfaCode, awsCli as aws, cliInstanceEnv as instanceEnv, cliProfileEnv as profileEnv, freePort, labInstance as instance, type CliResult } from '@kms-share/aws-lab/testing'
export type { Lab }

export const BUCKET = 'kmsworkshop-111122223333'
export const ACCOUNT = '111122223333'
export const KEY_ALIAS = 'alias/ImportedCMK'

type Tap = Pick<Test, 'testdir' | 'teardown'>

/** The standard AWS variables for a lab profile. */
export const awsEnv = labProfileEnv

export function s3As(lab: Lab, profile: string): S3Client {
  return createS3Client(awsEnv(lab, profile))
}

/** A fresh folder removed at teardown (t.testdir() is one folder per test, emptied on each call). */
export function scratchDir(t: Tap, prefix = 'kms-share-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface RunningService {
  app: FastifyInstance
  url: string
  logs: Array<Record<string, unknown>>
}

export interface RunningDownload extends RunningService {
  /** The service's cache folder (CACHE_DIR). */
  cacheDir: string
}

/**
 * A token as a service's real callers hold it (`kms_<service>_…` with `scopes`): the token, its AUTH_TOKENS
 * entry for the service, and the Authorization header to spread into a request's headers.
 */
export function scopedToken(service: string, scopes: readonly string[]): { token: string; AUTH_TOKENS: string; auth: { authorization: string } } {
  const token = generateToken(service)
  return { token, AUTH_TOKENS: formatTokenEntry(`${service}-test`, scopes, hashToken(token)), auth: { authorization: `Bearer ${token}` } }
}

/** The download service as `profile`, listening on `port` (free if 0); closed at teardown. Give it AUTH_TOKENS: nothing is open. */
export async function startDownload(t: Tap, lab: Lab, profile: string, env: Record<string, string> = {}, port = 0): Promise<RunningDownload> {
  const config = loadDownloadConfig({ BUCKET, CACHE_DIR: scratchDir(t), LOG_LEVEL: 'info', PORT: '0', ...awsEnv(lab, profile), ...env })
  const logs: Array<Record<string, unknown>> = []
  const app = await buildDownloadApp(config, { logStream: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } })
  t.teardown(() => app.close())
  await app.listen({ port, host: '127.0.0.1' })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('no address')
  return { app, url: `http://127.0.0.1:${address.port}`, logs, cacheDir: config.CACHE_DIR }
}

/** A lab whose new VPC endpoints stay `pending` for `pendingMs`, so clients must wait as in AWS. */
// The workshop's network parts start from a VPC with no KMS endpoint and make one: the seed's VPC, with the services'
// instances in it (WITHOUT_STACKS); the network stack's VPC already has its KMS endpoint with private DNS.
export async function startNetworkLab(t: Tap, pendingMs = 1_500, options: { defaultKeyPolicy?: boolean } = {}): Promise<Lab> {
  return startTestLab(t, { ...WITHOUT_STACKS, vpcEndpointPendingMs: pendingMs, ...options })
}
