// buildApp(config): the download service as a Fastify instance that never listens (server.ts does).
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import type { S3Client } from '@aws-sdk/client-s3'
import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { authPlugin, basePlugin, framePlugin, requireScope, s3Plugin, serverOptions } from '@kms-share/shared'
import { durationMs, type DownloadConfig } from './config.js'
import { downloadsPlugin } from './plugins/downloads.js'
import { filesRoutes } from './routes/files.js'
import { cacheRoutes } from './routes/cache.js'
import { pageRoutes } from './routes/page.js'

export type { DownloadConfig } from './config.js'
export { loadConfig, DownloadConfigSchema } from './config.js'
export { DownloadErrors } from './errors.js'

/** The scopes this service's routes check: download (objects, the page) and cache:admin (GET/DELETE /cache). */
export const DOWNLOAD_SCOPES = ['download', 'cache:admin'] as const

export interface BuildOptions {
  /** An S3 client to use instead of one built from the config. */
  s3?: S3Client
  /** Where the JSON log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void }
}

export async function buildApp(config: DownloadConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const base = serverOptions(config, 'download')
  const logger = options.logStream && typeof base.logger === 'object' ? { ...base.logger, stream: options.logStream } : base.logger
  const app = Fastify({ ...base, logger })

  // External plugins → domain plugins → routes.
  await app.register(swagger, {
    openapi: {
      info: { title: 'kms-share download', version: '0.1.0', description: 'Reads objects (SSE-KMS) as the downloader role, through a local cache.' },
    },
  })
  await app.register(basePlugin, { config })
  await app.register(authPlugin, { config, scopes: DOWNLOAD_SCOPES, service: 'download' })
  await app.register(framePlugin, { config, service: 'download' })
  await app.register(s3Plugin, { config, ...(options.s3 ? { client: options.s3 } : {}) })
  await app.register(downloadsPlugin, { bucket: config.BUCKET, cacheDir: config.CACHE_DIR, cacheMaxBytes: config.CACHE_MAX_BYTES, cacheMemoryBytes: config.CACHE_MEMORY_BYTES, sweepIntervalMs: durationMs(config.CACHE_SWEEP_INTERVAL), headConcurrency: config.HEAD_CONCURRENCY, headMemoMs: config.HEAD_MEMO_MS, revalidateAfterMs: config.CACHE_REVALIDATE_AFTER_MS, listSortMaxObjects: config.LIST_SORT_MAX_OBJECTS })

  // Ready when S3 answers for the bucket; an unwritable cache only degrades to streaming.
  app.addReadinessCheck('s3', async (signal) => {
    await app.s3.send(new ListObjectsV2Command({ Bucket: config.BUCKET, MaxKeys: 1 }), { abortSignal: signal })
  })

  // Reading objects needs the download scope; listing or emptying the local cache needs cache:admin.
  await app.register(async (scoped) => {
    scoped.addHook('onRequest', requireScope('download'))
    await scoped.register(filesRoutes, { bucket: config.BUCKET })
    await scoped.register(pageRoutes, { bucket: config.BUCKET })
  })
  await app.register(async (scoped) => {
    scoped.addHook('onRequest', requireScope('cache:admin'))
    await scoped.register(cacheRoutes)
  })
  return app
}
