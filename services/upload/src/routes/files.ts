// /files: PUT a raw body (one streamed PutObject), POST a multipart form (lib-storage),
// GET the bucket's objects. The service writes and lists; it never reads an object.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { BucketLister, isAwsServiceError, problemOf, ProblemError, toProblem, awsErrorCode, sendProblem } from '@kms-share/shared'
import type { UploadConfig } from '../config.js'
import { UploadErrors } from '../errors.js'
import { objectKey } from '../object-name.js'
import { watchBodyIdle } from '../body-idle.js'
import { ByteCounter, MAX_SINGLE_PUT_BYTES, multipartUploadStream, putObjectStream, type StoredObject, type UploadTarget } from '../s3-upload.js'
import { listResponses, ListQuery, OverwriteQuery, postResponses, PutParams, putResponses } from '../schemas/files.js'

/** Called after an object is stored: the seam for the audit queue; its `audit` goes into the 201 answer. */
export type OnUploaded = (
  object: StoredObject & { bucket: string; startedAt: string },
  request: FastifyRequest,
) => Promise<{ audit?: 'queued' | 'pending' } | void> | { audit?: 'queued' | 'pending' } | void

export interface FilesRoutesOptions {
  config: UploadConfig
  onUploaded?: OnUploaded
  /** PUT bodies above this go through a multipart upload (S3's single-PUT limit; lower only in tests). */
  singlePutMaxBytes?: number
}

type UploadPath = 'put' | 'multipart'

/** AWS and stream failures → the problem a caller of the upload service should see. */
function uploadProblem(err: unknown, key: string, path: UploadPath) {
  if (isAwsServiceError(err)) {
    const code = awsErrorCode(err)
    if (code === 'PreconditionFailed' || err.$metadata.httpStatusCode === 412) {
      return problemOf(new UploadErrors.OBJECT_EXISTS(JSON.stringify(key)), { awsErrorCode: code })
    }
    const problem = toProblem(err, { action: 's3:PutObject', subject: key })
    if (path === 'multipart' && problem.status === 403 && problem.action === 'kms:Decrypt') {
      // AWS: completing a multipart SSE-KMS upload needs kms:Decrypt (S3 reads the encrypted parts).
      return problemOf(new UploadErrors.MULTIPART_NEEDS_DECRYPT(), {
        ...problem,
        code: 'UPL_MULTIPART_NEEDS_DECRYPT',
        type: 'urn:kms-share:problem:UPL_MULTIPART_NEEDS_DECRYPT',
        detail: `AWS denied kms:Decrypt, which S3 needs to complete a multipart SSE-KMS upload (it decrypts the parts to assemble the object); grant the uploader kms:Decrypt on the key only via S3 (condition kms:ViaService = s3.<region>.amazonaws.com), or upload with PUT /files/<name>, which needs only kms:GenerateDataKey. AWS said: ${err.message}`,
      })
    }
    return problem
  }
  return toProblem(err)
}

const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[^"\r\n]*"|[A-Za-z0-9!#$&^_.+-]+))*$/

/** The client's media type when well-formed (it becomes the object's Content-Type). */
function mediaType(value: string | undefined): string | undefined {
  return value && value.length <= 256 && MEDIA_TYPE.test(value) ? value : undefined
}

function targetFor(app: FastifyInstance, config: UploadConfig, key: string, overwrite: boolean, contentType?: string): UploadTarget {
  return {
    ...(contentType ? { contentType } : {}),
    s3: app.s3,
    bucket: config.BUCKET,
    key,
    kmsKeyId: config.KMS_KEY_ID,
    bucketKey: config.BUCKET_KEY,
    overwrite,
    partBytes: config.MULTIPART_PART_BYTES,
  }
}

/** True when the client went away before sending the whole body. */
function clientGone(request: FastifyRequest): boolean {
  return request.raw.destroyed && !request.raw.complete
}

/** A problem answered before the body was read: close the connection rather than drain a large body. */
function refuseEarly(reply: FastifyReply, err: { code: string; statusCode?: number; message: string }) {
  reply.header('connection', 'close')
  return sendProblem(reply, problemOf(err))
}

export const filesRoutes: FastifyPluginAsyncTypebox<FilesRoutesOptions> = async (app, { config, onUploaded, singlePutMaxBytes = MAX_SINGLE_PUT_BYTES }) => {
  async function afterStore(object: StoredObject, request: FastifyRequest, reply: FastifyReply): Promise<StoredObject & { audit?: 'queued' | 'pending' }> {
    request.log.info({ key: object.key, size: object.size, kmsKeyArn: object.kmsKeyArn }, 'object stored')
    if (!onUploaded) return object
    try {
      const startedAt = new Date(Date.now() - reply.elapsedTime).toISOString()
      const result = await onUploaded({ ...object, bucket: config.BUCKET, startedAt }, request)
      return result?.audit ? { ...object, audit: result.audit } : object
    } catch (err) {
      // The object is stored; the audit sweep catches objects whose job was lost.
      request.log.error({ err, key: object.key }, 'post-upload hook failed')
      return { ...object, audit: 'pending' }
    }
  }

  // The raw-body route lives in its own context so no body parser touches its stream.
  await app.register(async (rawContext) => {
    const raw = rawContext.withTypeProvider<TypeBoxTypeProvider>()
    raw.removeAllContentTypeParsers()
    raw.addContentTypeParser('*', (_request, _payload, done) => done(null))

    raw.put('/files/*', {
      schema: {
        summary: 'Upload a raw body as one streamed PutObject under SSE-KMS (needs Content-Length).',
        tags: ['files'],
        params: PutParams,
        querystring: OverwriteQuery,
        response: putResponses,
      },
    }, async (request, reply) => {
      // A cut connection (or one we close after an early refusal) makes the body stream emit 'aborted'; handled via 'close'.
      request.raw.on('error', (err) => request.log.debug({ err }, 'request stream error'))
      const key = objectKey(request.params['*'])
      const lengthHeader = request.headers['content-length']
      if (lengthHeader === undefined || !/^\d+$/.test(lengthHeader)) return refuseEarly(reply, new UploadErrors.LENGTH_REQUIRED())
      const contentLength = Number(lengthHeader)
      if (contentLength > config.MAX_UPLOAD_BYTES) return refuseEarly(reply, new UploadErrors.TOO_LARGE(config.MAX_UPLOAD_BYTES))

      const target = targetFor(app, config, key, request.query.overwrite, mediaType(request.headers['content-type']))
      const controller = new AbortController()
      // The body goes through our own stream: pipe() does not forward the socket's 'aborted' error into the SDK's streams.
      const counter = new ByteCounter(config.MAX_UPLOAD_BYTES)
      request.raw.pipe(counter)
      const single = contentLength <= singlePutMaxBytes
      const stop = (reason: Error) => {
        controller.abort(reason)
        // lib-storage stops on a failing body (and aborts the multipart upload); PutObject stops on the signal.
        if (!single) counter.destroy(reason)
      }
      const untrack = app.inFlightUploads.track(stop)
      const onClose = () => {
        if (!request.raw.complete) stop(new UploadErrors.CLIENT_DISCONNECTED())
      }
      request.raw.once('close', onClose)
      const stopWatching = watchBodyIdle(request, reply, config.UPLOAD_IDLE_TIMEOUT_MS, config.HTTP_IDLE_TIMEOUT_MS, () => stop(new UploadErrors.IDLE_TIMEOUT(config.UPLOAD_IDLE_TIMEOUT_MS)))
      try {
        const object = single
          // As long as the client may take to send it (HTTP_REQUEST_TIMEOUT_MS), plus a minute for S3 to answer.
          ? await putObjectStream(target, counter, contentLength, controller.signal, config.HTTP_REQUEST_TIMEOUT_MS + 60_000)
          : await multipartUploadStream(target, counter, contentLength)
        return reply.code(201).send(await afterStore(object, request, reply))
      } catch (err) {
        if (clientGone(request)) {
          request.log.warn({ key }, 'client disconnected mid-upload; upload aborted')
          return sendProblem(reply, problemOf(new UploadErrors.CLIENT_DISCONNECTED()))
        }
        // The rest of an unread body is not worth draining.
        if (!request.raw.complete) reply.header('connection', 'close')
        if (controller.signal.aborted && controller.signal.reason instanceof Error && 'code' in controller.signal.reason) {
          throw controller.signal.reason
        }
        throw new ProblemError(uploadProblem(err, key, 'put'), { cause: err })
      } finally {
        untrack()
        stopWatching()
        request.raw.off('close', onClose)
      }
    })
  })

  app.post('/files', {
    schema: {
      summary: 'Upload a multipart form: optional field "key" first, then field "file". Streamed through a multipart upload.',
      tags: ['files'],
      consumes: ['multipart/form-data'],
      querystring: OverwriteQuery,
      response: postResponses,
    },
  }, async (request, reply) => {
    if (!request.isMultipart()) throw new UploadErrors.NOT_MULTIPART()
    request.raw.on('error', (err) => request.log.debug({ err }, 'request stream error'))
    let key: string | undefined
    let fileSeen = false
    let upload: Promise<StoredObject> | undefined
    let counter: ByteCounter | undefined
    let releaseEnd!: () => void
    let failEnd!: (err: Error) => void
    const formComplete = new Promise<void>((resolve, reject) => {
      releaseEnd = resolve
      failEnd = reject
    })
    formComplete.catch(() => {}) // observed through the counter's flush
    const abort = (reason: Error) => {
      failEnd(reason)
      counter?.destroy(reason)
    }
    const untrack = app.inFlightUploads.track(abort)
    // The form reader waits for the file stream to be consumed; when the upload fails first
    // (limit, S3 refusal) it would wait forever, so the first failure of either wins.
    let uploadFailed!: (err: unknown) => void
    const failedEarly = new Promise<never>((_resolve, reject) => {
      uploadFailed = reject
    })
    failedEarly.catch(() => {})
    const readForm = async () => {
      for await (const part of request.parts()) {
        if (part.type === 'field') {
          if (part.fieldname !== 'key') throw new UploadErrors.UNEXPECTED_FIELD(JSON.stringify(part.fieldname))
          if (fileSeen) throw new UploadErrors.KEY_AFTER_FILE()
          key = String(part.value)
          continue
        }
        if (part.fieldname !== 'file') throw new UploadErrors.UNEXPECTED_FIELD(JSON.stringify(part.fieldname))
        if (fileSeen) throw new UploadErrors.TOO_MANY_FILES()
        fileSeen = true
        const name = objectKey(key ?? part.filename)
        key = name
        const body = new ByteCounter(config.MAX_UPLOAD_BYTES, formComplete)
        counter = body
        part.file.on('error', (err) => body.destroy(err))
        part.file.pipe(body)
        upload = multipartUploadStream(targetFor(app, config, name, request.query.overwrite, mediaType(part.mimetype)), body)
        upload.catch(uploadFailed)
      }
    }
    let stopWatching = () => {}
    try {
      const reading = readForm()
      reading.catch(() => {}) // after an early failure the reader ends with the connection
      stopWatching = watchBodyIdle(request, reply, config.UPLOAD_IDLE_TIMEOUT_MS, config.HTTP_IDLE_TIMEOUT_MS, () => {
        const reason = new UploadErrors.IDLE_TIMEOUT(config.UPLOAD_IDLE_TIMEOUT_MS)
        abort(reason)
        // Also when the form stalls before its file starts: the reader alone would wait forever.
        uploadFailed(reason)
      })
      await Promise.race([reading, failedEarly])
      if (!upload) throw new UploadErrors.NO_FILE()
      releaseEnd()
      const object = await upload
      return reply.code(201).send(await afterStore(object, request, reply))
    } catch (err) {
      abort(err instanceof Error ? err : new Error(String(err)))
      // Wait until lib-storage has aborted the multipart upload, so nothing is left when we answer.
      if (upload) await upload.catch(() => {})
      if (clientGone(request)) {
        request.log.warn({ key }, 'client disconnected mid-upload; multipart upload aborted')
        return sendProblem(reply, problemOf(new UploadErrors.CLIENT_DISCONNECTED()))
      }
      const problem = uploadProblem(err, key ?? '', 'multipart')
      if (!request.raw.complete) reply.header('connection', 'close')
      throw new ProblemError(problem, { cause: err })
    } finally {
      untrack()
      stopWatching()
    }
  })

  const lister = new BucketLister(app.s3, config.BUCKET, { maxSortScan: config.LIST_SORT_MAX_OBJECTS })
  app.get('/files', {
    schema: {
      summary: "The bucket's objects, one folder level at a time (delimiter=/), sorted by name, size or date, paged: pass nextCursor as ?cursor.",
      tags: ['files'],
      querystring: ListQuery,
      response: listResponses,
    },
  }, async (request) => lister.list(request.query))
}
