// GET /files (objects with their encryption), GET and HEAD /files/* (the object, from the cache when current).
import { open, type FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type, type Static } from 'typebox'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { problemOf, problemResponses, ProblemError, toProblem } from '@kms-share/shared'
import type { CacheEntry } from '../cache.js'
import type { ObjectInfo } from '../downloader.js'
import { DownloadErrors } from '../errors.js'
import { contentDisposition, parseRange } from '../http-headers.js'
import { FileDetailsSchema, FileListQuerySchema, FileListSchema } from '../schemas/files.js'
import { listFiles } from '../listing.js'
import { sendFileRange } from '../file-sender.js'

export interface FilesRouteOptions {
  bucket: string
}

const KeyParams = Type.Object({ '*': Type.String({ description: 'The object key; `/` allowed.' }) })
const binary = Type.Unknown({ description: 'The object bytes.' })

function requireKey(params: Static<typeof KeyParams>): string {
  const key = params['*']
  if (!key) throw new DownloadErrors.INVALID_KEY('empty key')
  return key
}

/** Headers every answer about an object carries. */
function objectHeaders(reply: FastifyReply, info: ObjectInfo): void {
  reply.header('content-type', info.contentType)
  reply.header('content-disposition', contentDisposition(info.key))
  reply.header('x-content-type-options', 'nosniff')
  reply.header('accept-ranges', 'bytes')
  reply.header('cache-control', 'private, no-cache')
  if (info.etag) reply.header('etag', info.etag)
  if (info.lastModified) reply.header('last-modified', info.lastModified)
}

function etagMatches(header: string | string[] | undefined, etag: string): boolean {
  if (!header || !etag) return false
  const value = Array.isArray(header) ? header.join(',') : header
  return value.trim() === '*' || value.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}

function unsatisfiable(reply: FastifyReply, range: string, size: number): never {
  reply.header('content-range', `bytes */${size}`)
  throw new ProblemError(problemOf(new DownloadErrors.RANGE_NOT_SATISFIABLE(range, String(size))))
}

/**
 * Answer with bytes `start`..`end` of a cached file through two reused 1 MiB buffers (see
 * file-sender.ts): the reply is hijacked, so its status and headers are written here; the file is
 * closed once the answer is sent or the client is gone.
 */
async function sendFromFile(reply: FastifyReply, handle: FileHandle, start: number, end: number): Promise<void> {
  reply.hijack()
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value)
  reply.raw.writeHead(reply.statusCode)
  try {
    await sendFileRange(reply.raw, handle, start, end)
  } finally {
    await handle.close().catch(() => undefined)
  }
}

/** Cached files up to this size are read whole and sent as one buffer. */
const SMALL_FILE_BYTES = 256 * 1024

/** The whole of a `size`-byte file, or undefined when it holds fewer bytes. */
async function readWhole(handle: FileHandle, size: number): Promise<Buffer | undefined> {
  const buffer = Buffer.allocUnsafe(size)
  let done = 0
  while (done < size) {
    const { bytesRead } = await handle.read(buffer, done, size - done, done)
    if (bytesRead === 0) return undefined
    done += bytesRead
  }
  return buffer
}

export async function filesRoutes(fastify: FastifyInstance, options: FilesRouteOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { downloader } = app

  app.get('/files', {
    schema: {
      summary: "The bucket's objects with their encryption (algorithm, KMS key ARN, bucket key), paged.",
      tags: ['files'],
      querystring: FileListQuerySchema,
      response: { 200: FileListSchema, ...problemResponses(400, 403, 502, 503) },
    },
  }, async (request) => {
    const { token, cursor, ...query } = request.query
    const next = cursor ?? token
    return listFiles(app.lister, downloader.cache, { ...query, ...(next ? { cursor: next } : {}) }, app.encryptionLookup)
  })

  app.get('/details/*', {
    schema: {
      summary: "One object's details, asked of S3 now (HeadObject): size, ETag, type, encryption (algorithm, KMS key ARN, bucket key), and its local copy.",
      tags: ['files'],
      params: KeyParams,
      response: { 200: FileDetailsSchema, ...problemResponses(400, 403, 404, 502, 503) },
    },
  }, async (request) => {
    const key = requireKey(request.params)
    let head
    try {
      head = await app.s3.send(new HeadObjectCommand({ Bucket: options.bucket, Key: key }))
    } catch (err) {
      throw new ProblemError(toProblem(err, { action: 's3:GetObject', subject: key }), { cause: err })
    }
    const entry = downloader.cache.lookup(key)
    const current = entry !== undefined && entry.etag === head.ETag
    return {
      key,
      size: head.ContentLength ?? 0,
      etag: head.ETag ?? null,
      lastModified: head.LastModified ? head.LastModified.toISOString() : null,
      contentType: head.ContentType ?? null,
      versionId: head.VersionId ?? null,
      encryption: { algorithm: head.ServerSideEncryption ?? null, kmsKeyArn: head.SSEKMSKeyId ?? null, bucketKeyEnabled: head.BucketKeyEnabled ?? false },
      cached: current,
      localFile: current ? entry.name : null,
    }
  })

  // True once answered. (Never return the reply itself from here: a FastifyReply is a thenable, so
  // awaiting it waits for the response and yields undefined — the handler would go round again.)
  /** The entry's file, opened and checked to be the one written for it; undefined when it is not (fetch again). */
  const openVerified = async (request: FastifyRequest, entry: CacheEntry, key: string): Promise<FileHandle | undefined> => {
    // Open before answering: an eviction between lookup and open must not become a 500.
    const handle = await open(downloader.cache.path(entry), 'r').catch((err: Error) => {
      request.log.warn({ err, key, name: entry.name }, 'cache file vanished before it was opened: fetching again')
      return undefined
    })
    if (!handle) return undefined
    // The file under this name must be the one written for this entry: never another object's bytes.
    if (!(await downloader.cache.matches(entry, handle).catch(() => false))) {
      await handle.close()
      request.log.warn({ key, name: entry.name }, 'cache file is not the entry it was written for: fetching again')
      await downloader.cache.discard(entry)
      return undefined
    }
    return handle
  }

  // True once answered. (Never return the reply itself from here: a FastifyReply is a thenable, so
  // awaiting it waits for the response and yields undefined — the handler would go round again.)
  const serveCached = async (request: FastifyRequest, reply: FastifyReply, entry: CacheEntry, key: string): Promise<boolean> => {
    // A small entry read before is served from memory: no file is opened.
    const remembered = downloader.cache.inMemory(entry)
    const handle = remembered ? undefined : await openVerified(request, entry, key)
    if (!remembered && !handle) return false
    objectHeaders(reply, entry)
    reply.header('x-cache', 'hit')
    if (etagMatches(request.headers['if-none-match'], entry.etag)) {
      await handle?.close()
      reply.code(304).send()
      return true
    }
    const rangeHeader = request.headers.range
    const ifRange = request.headers['if-range']
    const range = ifRange && ifRange !== entry.etag ? { kind: 'none' as const } : parseRange(rangeHeader, entry.size)
    if (range.kind === 'unsatisfiable') {
      await handle?.close()
      unsatisfiable(reply, rangeHeader ?? '', entry.size)
    }
    if (range.kind === 'range') {
      reply.code(206)
      reply.header('content-range', `bytes ${range.start}-${range.end}/${entry.size}`)
      reply.header('content-length', range.end - range.start + 1)
      if (remembered) reply.send(remembered.subarray(range.start, range.end + 1))
      else await sendFromFile(reply, handle!, range.start, range.end)
      return true
    }
    reply.header('content-length', entry.size)
    request.log.debug({ key, name: entry.name }, 'served from cache')
    if (remembered) {
      reply.send(remembered)
      return true
    }
    if (entry.size <= SMALL_FILE_BYTES) {
      // One read into a buffer of the file's size: no stream, and no 1 MiB read buffer for a 1 KiB file.
      const body = await readWhole(handle!, entry.size).finally(() => handle!.close())
      if (!body) return false // shorter than its entry: treat as gone and fetch again
      downloader.cache.keepInMemory(entry, body)
      reply.send(body)
      return true
    }
    await sendFromFile(reply, handle!, 0, entry.size - 1)
    return true
  }

  app.get('/files/*', {
    exposeHeadRoute: false,
    schema: {
      summary: 'Download an object: from the local cache when current, else from S3 (written to the cache while streaming).',
      tags: ['files'],
      params: KeyParams,
      response: { 200: binary, 206: binary, 304: Type.Null(), ...problemResponses(400, 403, 404, 416, 502, 503) },
    },
  }, async (request, reply) => {
    const key = requireKey(request.params)
    const range = request.headers.range
    for (let attempt = 0; attempt < 2; attempt++) {
      const delivery = await downloader.get(key, range)
      if (delivery.source === 'cache') {
        if (await serveCached(request, reply, delivery.entry, key)) return reply
        continue // the file was evicted just now: go round once more
      }
      objectHeaders(reply, delivery.info)
      reply.header('x-cache', 'miss')
      reply.code(delivery.status)
      if (delivery.contentRange) reply.header('content-range', delivery.contentRange)
      reply.header('content-length', delivery.contentLength)
      const body: Readable = delivery.body
      // A client that leaves lets go of its reader; the fill into the cache goes on at S3's speed.
      // (One that left while the answer was being prepared has already closed: let go now.)
      if (reply.raw.closed || request.raw.socket?.destroyed) body.destroy()
      else reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) body.destroy()
      })
      return reply.send(body)
    }
    throw new ProblemError(problemOf(new DownloadErrors.CACHE_ENTRY_NOT_FOUND(key)))
  })

  app.head('/files/*', {
    schema: {
      summary: "An object's headers (size, type, ETag) without its bytes.",
      tags: ['files'],
      params: KeyParams,
      response: { 200: Type.Null(), ...problemResponses(400, 403, 404, 502, 503) },
    },
  }, async (request, reply) => {
    const key = requireKey(request.params)
    const { entry, info } = await downloader.head(key)
    objectHeaders(reply, info)
    reply.header('x-cache', entry ? 'hit' : 'miss')
    reply.header('content-length', info.size)
    return reply.code(200).send(null)
  })
}
