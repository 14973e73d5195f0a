// Test helpers: a real lab on port 0 in a testdir, and the upload service built against it
// with a chosen profile, listening on a real port.
import type { Test } from 'tap'
import { S3Client } from '@aws-sdk/client-s3'
import { KMSClient } from '@aws-sdk/client-kms'
import { startLab, type Lab } from '@kms-share/aws-lab'
import { createKmsClient, createS3Client } from '@kms-share/shared'
import { buildApp, loadUploadConfig, type BuildAppOptions } from '../src/app.js'

export const BUCKET = 'kmsworkshop-111122223333'

export async function startTestLab(t: Test): Promise<Lab> {
  const lab = await startLab({ dataDir: t.testdir(), port: 0, quiet: true })
  t.teardown(() => lab.close())
  return lab
}

/** The environment a deployment would give the service, pointing at the lab. */
export function labEnv(lab: Lab, profile: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_PROFILE: profile,
    AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile,
    AWS_CONFIG_FILE: lab.configFile,
    AWS_REGION: lab.region,
    AWS_ENDPOINT_URL: lab.endpoint,
    BUCKET,
    KMS_KEY_ID: 'alias/ImportedCMK',
    PORT: '0',
    LOG_LEVEL: 'silent',
    ...extra,
  }
}

export async function startUpload(t: Test, lab: Lab, profile = 'uploader', extra: Record<string, string> = {}, options: BuildAppOptions = {}) {
  const config = loadUploadConfig(labEnv(lab, profile, extra))
  const app = await buildApp(config, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  return { app, config, url: `http://127.0.0.1:${port}`, port }
}

/** SDK clients as another identity (admin checks what the service cannot see). */
export function clientsAs(lab: Lab, profile: string) {
  const env = labEnv(lab, profile)
  const s3: S3Client = createS3Client(env)
  const kms: KMSClient = createKmsClient(env)
  return { s3, kms }
}

export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/')
}
