// Test helpers: a real lab on port 0 in a testdir, and the upload service built against it
// with a chosen profile, listening on a real port.
import type { Test } from 'tap'
import { S3Client } from '@aws-sdk/client-s3'
import { KMSClient } from '@aws-sdk/client-kms'
import type { Lab } from '@kms-share/aws-lab'
import { labDeployment, labProfileEnv, startTestLab as startLab, type LabTest, type TestLabOptions } from '@kms-share/aws-lab/testing'
import { createKmsClient, createS3Client, formatTokenEntry, generateToken, hashToken } from '@kms-share/shared'
import { buildApp, loadUploadConfig, type BuildAppOptions } from '../src/app.js'

export { eventually } from '@kms-share/aws-lab/testing'

export const BUCKET = 'kmsworkshop-111122223333'

/** The token these tests call the service with, as its real callers do: a kms_upload_… token holding the upload scope. */
export const TOKEN = generateToken('upload')
/** Spread into a request's headers. */
export const AUTH = { authorization: `Bearer ${TOKEN}` }

/**
 * A lab whose alias/ImportedCMK keeps AWS's default key policy: these tests read objects back as the
 * lab's admin and take permissions away through IAM alone, which the stack key's separation-of-duties
 * policy would decide instead (it refuses the admin any use, and allows the uploader itself).
 */
export function startTestLab(t: LabTest, options: TestLabOptions = {}): Promise<Lab> {
  return startLab(t, { defaultKeyPolicy: true, ...options })
}

/** The environment a deployment would give the service, pointing at the lab. */
export function labEnv(lab: Lab, profile: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...labProfileEnv(lab, profile),
    BUCKET,
    // The deployed bucket's policy takes the key by its ARN only.
    KMS_KEY_ID: labDeployment(lab).keyArn,
    PORT: '0',
    LOG_LEVEL: 'silent',
    // Scoped as production: only TOKEN, with the upload scope (auth tests configure their own).
    AUTH_TOKENS: formatTokenEntry('upload-test', ['upload'], hashToken(TOKEN)),
    ...extra,
  }
}

export async function startUpload(t: Test, lab: Lab, profile = 'uploader', extra: Record<string, string> = {}, options: BuildAppOptions = {}) {
  const config = loadUploadConfig(labEnv(lab, profile, extra))
  const app = await buildApp(config, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  return { app, config, url, port, api: authorizedFetch(url) }
}

export type Api = (path: string, init?: RequestInit & { headers?: Record<string, string> }) => Promise<Response>

/** fetch against the service at `url` with TOKEN in Authorization (a test's own headers win). */
export function authorizedFetch(url: string): Api {
  return (path, init = {}) => fetch(url + path, { ...init, headers: { ...AUTH, ...init.headers } })
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

import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'

/** A multipart/form-data body built by hand, so tests control field order and can cut it mid-file. */
export function formParts(boundary: string, parts: Array<{ name: string; filename?: string; type?: string; body: Buffer | string }>): Buffer {
  const chunks: Buffer[] = []
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.filename !== undefined ? `Content-Type: ${p.type ?? 'application/octet-stream'}\r\n` : ''}\r\n`))
    chunks.push(Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body))
    chunks.push(Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return Buffer.concat(chunks)
}

export async function postForm(api: Api, body: Buffer, boundary: string): Promise<{ status: number; json: any; headers: Headers }> {
  const r = await api('/files', { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } })
  const text = await r.text()
  return { status: r.status, json: text ? JSON.parse(text) : null, headers: r.headers }
}

/** Opens a request (with TOKEN) and returns it unfinished, for tests that cut the connection mid-body. */
export function openRequest(url: string, method: string, headers: Record<string, string | number>): { req: ClientRequest; response: Promise<IncomingMessage | Error> } {
  const req = httpRequest(url, { method, headers: { ...AUTH, ...headers } })
  const response = new Promise<IncomingMessage | Error>((resolve) => {
    req.on('response', resolve)
    req.on('error', resolve)
  })
  return { req, response }
}
