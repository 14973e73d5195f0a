// Test helpers: a lab started per test file, SDK clients for its profiles, and the download
// service built from a config exactly as server.ts would build it, listening on port 0.
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { createS3Client } from '@kms-share/shared'
import type { Lab } from '@kms-share/aws-lab'
import { labProfileEnv, startTestLab as startLab, type LabTest, type TestLabOptions } from '@kms-share/aws-lab/testing'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

export const BUCKET = 'kmsworkshop-111122223333'
export const KEY_ALIAS = 'alias/ImportedCMK'

export type { Lab }
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

export function s3As(lab: Lab, profile: string): S3Client {
  return createS3Client(awsEnv(lab, profile))
}

/** Put an object encrypted under the workshop's key, as an identity allowed to write. */
export async function putObject(s3: S3Client, key: string, body: string | Buffer, contentType?: string, bucketKey?: boolean): Promise<string> {
  const out = await s3.send(new PutObjectCommand({
    Bucket: BUCKET,
    Key: key,
    Body: body,
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: KEY_ALIAS,
    ...(contentType ? { ContentType: contentType } : {}),
    ...(bucketKey !== undefined ? { BucketKeyEnabled: bucketKey } : {}),
  }))
  return out.ETag ?? ''
}

export interface RunningService {
  app: FastifyInstance
  url: string
  logs: Array<Record<string, unknown>>
}

/** The download service as `profile`, listening on a free port; closed at teardown. */
export async function startDownload(t: Tap, lab: Lab, profile: string, env: Record<string, string> = {}, port = 0): Promise<RunningService> {
  const config = loadConfig({
    BUCKET,
    CACHE_DIR: scratchDir(t),
    LOG_LEVEL: 'info',
    PORT: '0',
    // Tests that predate authentication run open on loopback; auth tests override it.
    AUTH_DISABLED: 'true',
    ...awsEnv(lab, profile),
    ...env,
  })
  const logs: Array<Record<string, unknown>> = []
  const app = await buildApp(config, { logStream: { write: (line: string) => void logs.push(JSON.parse(line)) } })
  t.teardown(() => app.close())
  await app.listen({ port, host: '127.0.0.1' })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('no address')
  return { app, url: `http://127.0.0.1:${address.port}`, logs }
}

/** A path for /files/<key>, each segment percent-encoded. */
export function filePath(key: string): string {
  return '/files/' + key.split('/').map(encodeURIComponent).join('/')
}
