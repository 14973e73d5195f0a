// buildApp(config): the upload service as a Fastify instance that never listens by itself.
import Fastify, { type FastifyInstance } from 'fastify'
import multipart from '@fastify/multipart'
import swagger from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { S3Client } from '@aws-sdk/client-s3'
import { HeadBucketCommand } from '@aws-sdk/client-s3'
import { authPlugin, basePlugin, createStsClient, framePlugin, requireScope, s3Plugin, serverOptions } from '@kms-share/shared'
import type { UploadConfig } from './config.js'
import { inFlightPlugin } from './plugins/in-flight.js'
import { abandonedUploadsPlugin } from './abandoned-uploads.js'
import { filesRoutes, type OnUploaded } from './routes/files.js'
import { pageRoutes } from './routes/page.js'

export type { UploadConfig } from './config.js'
export { loadUploadConfig, UploadConfigSchema } from './config.js'
export { UploadErrors } from './errors.js'
export type { StoredObject } from './s3-upload.js'
export type { OnUploaded } from './routes/files.js'
export { AuditProducer, createAuditProducer } from './audit-producer.js'

/** The scopes this service's routes check (tokens: name:upload:sha256hex). */
export const UPLOAD_SCOPES = ['upload'] as const

export interface BuildAppOptions {
  /** Called after each stored object: where the audit queue's producer plugs in. */
  onUploaded?: OnUploaded
  /** An S3 client to use instead of one built from the config (it is still destroyed on close). */
  s3?: S3Client
  /** PUT bodies above this many bytes go through a multipart upload (default: S3's 5 GiB single-PUT limit). */
  singlePutMaxBytes?: number
}

export async function buildApp(config: UploadConfig, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  // Uploads get a long whole-request limit (HTTP_REQUEST_TIMEOUT_MS) and a short idle one (UPLOAD_IDLE_TIMEOUT_MS, in the routes).
  const app = Fastify(serverOptions(config, 'upload')).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(swagger, {
    openapi: {
      info: { title: 'kms-share upload', version: '0.1.0', description: 'Streams files into S3 under SSE-KMS as the uploader role: writes, never reads.' },
    },
  })
  await app.register(multipart, {
    // Keep the client's path so "../x" is refused instead of silently reduced to "x".
    preservePath: true,
    limits: { files: 2, fields: 4, fieldSize: 4096, parts: 8, fileSize: config.MAX_UPLOAD_BYTES + 1 },
  })
  await app.register(basePlugin, { config })
  await app.register(authPlugin, { config, scopes: UPLOAD_SCOPES, service: 'upload' })
  await app.register(framePlugin, { config, service: 'upload' })
  await app.register(s3Plugin, { config, ...(options.s3 ? { client: options.s3 } : {}) })
  await app.register(inFlightPlugin)
  await app.register(abandonedUploadsPlugin, { bucket: config.BUCKET, olderThanMs: config.MULTIPART_ABANDONED_AFTER_MS, sts: createStsClient(config) })

  app.addReadinessCheck('s3', async (signal) => {
    await app.s3.send(new HeadBucketCommand({ Bucket: config.BUCKET }), { abortSignal: signal })
  })

  // Every route of the service's own needs the upload scope, checked before any body is read.
  await app.register(async (scoped) => {
    scoped.addHook('onRequest', requireScope('upload'))
    await scoped.register(filesRoutes, {
      config,
      ...(options.onUploaded ? { onUploaded: options.onUploaded } : {}),
      ...(options.singlePutMaxBytes !== undefined ? { singlePutMaxBytes: options.singlePutMaxBytes } : {}),
    })
    await scoped.register(pageRoutes, { config })
  })
  return app
}
