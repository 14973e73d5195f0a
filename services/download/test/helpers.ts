// Test helpers: a lab started per test file, SDK clients for its profiles, and the download
// service built from a config exactly as server.ts would build it, listening on port 0.
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { createS3Client, formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import type { Lab } from '@kms-share/aws-lab'
import { labDeployment, labProfileEnv, startTestLab as startLab, type LabTest, type TestLabOptions } from '@kms-share/aws-lab/testing'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

export const BUCKET = 'kmsworkshop-111122223333'
export const KEY_ALIAS = 'alias/ImportedCMK'

export type { Lab }

// The tokens these tests call the service with, as its real callers hold them: people and scripts
// that read objects hold `download`; whoever empties the cache holds `cache:admin`.
export const TOKEN = generateToken('download')
export const CACHE_ADMIN_TOKEN = generateToken('download')
/** Spread into a request's headers (raw sockets: `Authorization: ${AUTH.authorization}`). */
export const AUTH = { authorization: `Bearer ${TOKEN}` }
export const CACHE_ADMIN_AUTH = { authorization: `Bearer ${CACHE_ADMIN_TOKEN}` }
/** AUTH_TOKENS holding both, as a deployment configures them. */
export const AUTH_TOKENS = [
  formatTokenEntry('download-test', ['download'], hashToken(TOKEN)),
  formatTokenEntry('cache-admin-test', ['cache:admin'], hashToken(CACHE_ADMIN_TOKEN)),
].join(',')

export type Api = (path: string, init?: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> }) => Promise<Response>

/** fetch against the service at `url` with these headers (a test's own headers win). */
export function authorizedFetch(url: string, auth: Record<string, string> = AUTH): Api {
  return (path, init = {}) => fetch(url + path, { ...init, headers: { ...auth, ...init.headers } })
}
export { eventually, freePort } from '@kms-share/aws-lab/testing'

/**
 * A lab whose alias/ImportedCMK keeps AWS's default key policy: these tests write objects and change
 * key policies as the lab's admin, which the stack key's separation-of-duties policy refuses.
 */
export function startTestLab(t: LabTest, options: TestLabOptions = {}): Promise<Lab> {
  return startLab(t, { defaultKeyPolicy: true, ...options })
}

type Tap = Pick<Test, 'testdir' | 'teardown'>

/** A fresh folder removed at teardown (t.testdir() is one folder per test, emptied on each call). */
export function scratchDir(t: Tap, prefix = 'kms-share-download-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The standard AWS variables for a lab profile. */
export const awsEnv = labProfileEnv

// Each client's lab's key ARN: the deployed bucket's policy refuses a put that names the key any other way.
const keyArnOf = new WeakMap<S3Client, string>()

export function s3As(lab: Lab, profile: string): S3Client {
  const client = createS3Client(awsEnv(lab, profile))
  keyArnOf.set(client, labDeployment(lab).keyArn)
  return client
}

/** Put an object encrypted under the workshop's key (by its ARN), as an identity allowed to write (a client from s3As). */
export async function putObject(s3: S3Client, key: string, body: string | Buffer, contentType?: string, bucketKey?: boolean): Promise<string> {
  const out = await s3.send(new PutObjectCommand({
    Bucket: BUCKET,
    Key: key,
    Body: body,
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: keyArnOf.get(s3) ?? KEY_ALIAS,
    ...(contentType ? { ContentType: contentType } : {}),
    ...(bucketKey !== undefined ? { BucketKeyEnabled: bucketKey } : {}),
  }))
  return out.ETag ?? ''
}

export interface RunningService {
  app: FastifyInstance
  url: string
  logs: Array<Record<string, unknown>>
  /** fetch with TOKEN (scope download). */
  api: Api
  /** fetch with CACHE_ADMIN_TOKEN (scope cache:admin). */
  cacheAdmin: Api
}

/** The download service as `profile`, listening on a free port; closed at teardown. */
export async function startDownload(t: Tap, lab: Lab, profile: string, env: Record<string, string> = {}, port = 0): Promise<RunningService> {
  const config = loadConfig({
    BUCKET,
    CACHE_DIR: scratchDir(t),
    LOG_LEVEL: 'info',
    PORT: '0',
    // Scoped as production (auth tests configure their own).
    AUTH_TOKENS,
    ...awsEnv(lab, profile),
    ...env,
  })
  const logs: Array<Record<string, unknown>> = []
  const app = await buildApp(config, { logStream: { write: (line: string) => void logs.push(JSON.parse(line)) } })
  t.teardown(() => app.close())
  await app.listen({ port, host: '127.0.0.1' })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('no address')
  const url = `http://127.0.0.1:${address.port}`
  return { app, url, logs, api: authorizedFetch(url), cacheAdmin: authorizedFetch(url, CACHE_ADMIN_AUTH) }
}

/** A path for /files/<key>, each segment percent-encoded. */
export function filePath(key: string): string {
  return '/files/' + key.split('/').map(encodeURIComponent).join('/')
}
