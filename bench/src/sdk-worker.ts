// The bench's clients that are not curl, in a process of their own (forked by harness.ts with the lab's
// AWS environment for one role): the AWS SDK's PutObject and GetObject, a presigned GetObject URL,
// Node's http client PUTting a file, and an fsync'd disk write. Run inside the bench process, these
// clients cost 4–6 CPU-seconds per GiB beside a 256 MiB buffer and the orchestration, more than the
// service they measured; on a 2-core machine that decided the ratios. Here each has a process and an
// event loop of its own, as curl does, and the parent only times the IPC round trip around each call.
// Messages: {id, op, ...} in; {id, bytes} or {id, url} or {id, error} out.
import { createReadStream } from 'node:fs'
import { request } from 'node:http'
import type { Readable } from 'node:stream'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { fsyncedWrite } from '@kms-share/aws-lab/testing'
import { createS3Client } from '@kms-share/shared'
import { BUCKET, KEY_ALIAS, MiB } from './constants.js'

export type WorkerRequest =
  | { op: 'put'; key: string; path: string; size: number; bucketKey?: boolean }
  | { op: 'get'; key: string }
  | { op: 'presign'; key: string; expiresIn: number }
  | { op: 'httpPut'; url: string; path: string; size: number }
  | { op: 'diskWrite'; dir: string; size: number }

export type WorkerReply = { id: number; bytes?: number; url?: string; error?: string }

/** PUT a file with Content-Length from Node's http client (64 KiB reads, as curl sends); resolves when the 201 is in. */
function httpPut(url: string, path: string, size: number): Promise<number> {
  return new Promise((res, rej) => {
    const req = request(url, { method: 'PUT', headers: { 'content-length': size, 'content-type': 'application/octet-stream' } }, (r) => {
      let text = ''
      r.on('data', (c: Buffer) => void (text += c.toString()))
      r.on('end', () => (r.statusCode === 201 ? res(size) : rej(new Error(`PUT ${url}: ${r.statusCode} ${text}`))))
    })
    req.on('error', rej)
    createReadStream(path, { highWaterMark: 64 * 1024 }).pipe(req)
  })
}

// The same identity and SDK defaults as the service for the role (createS3Client from the same env).
const env = process.env
const s3 = createS3Client({
  AWS_PROFILE: env.AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE: env.AWS_SHARED_CREDENTIALS_FILE,
  AWS_CONFIG_FILE: env.AWS_CONFIG_FILE, AWS_REGION: env.AWS_REGION, AWS_ENDPOINT_URL: env.AWS_ENDPOINT_URL,
})

async function handle(msg: WorkerRequest): Promise<Omit<WorkerReply, 'id'>> {
  switch (msg.op) {
    case 'put':
      // The call the upload service makes: a stream body with Content-Length, SSE-KMS under the workshop key.
      await s3.send(new PutObjectCommand({
        Bucket: BUCKET, Key: msg.key, Body: createReadStream(msg.path, { highWaterMark: MiB }), ContentLength: msg.size,
        ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KEY_ALIAS, ...(msg.bucketKey === undefined ? {} : { BucketKeyEnabled: msg.bucketKey }),
      }))
      return { bytes: msg.size }
    case 'get': {
      const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: msg.key }))
      let bytes = 0
      for await (const chunk of out.Body as Readable) bytes += (chunk as Buffer).length
      return { bytes }
    }
    case 'presign':
      return { url: await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: msg.key }), { expiresIn: msg.expiresIn }) }
    case 'httpPut':
      return { bytes: await httpPut(msg.url, msg.path, msg.size) }
    case 'diskWrite':
      fsyncedWrite(msg.dir, msg.size)
      return { bytes: msg.size }
  }
}

process.on('message', (msg: WorkerRequest & { id: number }) => {
  handle(msg).then(
    (reply) => process.send!({ id: msg.id, ...reply }),
    (err: unknown) => process.send!({ id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  )
})
process.on('disconnect', () => {
  s3.destroy()
  process.exit(0)
})
