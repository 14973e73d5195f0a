// GET /cache lists the local files; DELETE /cache/:name and DELETE /cache remove them.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { problemOf, problemResponses, ProblemError } from '@kms-share/shared'
import { isCacheFileName } from '../cache-names.js'
import { DownloadErrors } from '../errors.js'
import { CacheClearSchema, CacheListSchema } from '../schemas/files.js'

export async function cacheRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { downloader } = app
  const { cache } = downloader

  app.get('/cache', {
    schema: {
      summary: 'The local files (localfile-…): object key, size, cached at, ETag.',
      tags: ['cache'],
      response: { 200: CacheListSchema },
    },
  }, async () => ({
    enabled: cache.enabled,
    maxBytes: cache.maxBytes,
    totalBytes: cache.totalBytes,
    items: cache.list().map((entry) => ({
      name: entry.name,
      key: entry.key,
      size: entry.size,
      etag: entry.etag,
      contentType: entry.contentType,
      cachedAt: entry.cachedAt,
      lastAccess: new Date(entry.lastAccess).toISOString(),
    })),
    stats: { ...downloader.stats },
  }))

  app.delete('/cache/:name', {
    schema: {
      summary: 'Remove one local file.',
      tags: ['cache'],
      params: Type.Object({ name: Type.String({ minLength: 1 }) }),
      response: { 204: Type.Null(), ...problemResponses(404) },
    },
  }, async (request, reply) => {
    const { name } = request.params
    if (!isCacheFileName(name) || !(await cache.remove(name))) {
      throw new ProblemError(problemOf(new DownloadErrors.CACHE_ENTRY_NOT_FOUND(name)))
    }
    return reply.code(204).send(null)
  })

  app.delete('/cache', {
    schema: {
      summary: 'Remove every local file.',
      tags: ['cache'],
      response: { 200: CacheClearSchema },
    },
  }, async () => ({ removed: await cache.clear() }))
}
