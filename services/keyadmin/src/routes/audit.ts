// The audit results (verdicts the worker stored in Redis), the queue dashboard and Prometheus
// metrics, all behind keyadmin's authentication with the audit:read scope.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import createError from '@fastify/error'
import { Type, type Static } from 'typebox'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { Counter, Gauge, Registry } from 'prom-client'
import { createBullBoard } from '@bull-board/api'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import { FastifyAdapter } from '@bull-board/fastify'
import { AUDIT_QUEUE, problemResponses, requireScope } from '@kms-share/shared'
import { auditVerifier } from '../audit/signature.js'
import { AuditStore, quantile } from '../audit/store.js'
import { VERDICTS } from '../audit/verdict.js'

export const AuditErrors = {
  NOT_CONFIGURED: createError('KADM_AUDIT_NOT_CONFIGURED', 'The audit is not configured: set REDIS_URL to the Redis the audit worker uses', 503),
  UNAVAILABLE: createError('KADM_AUDIT_UNAVAILABLE', 'The audit results cannot be read now: %s', 503),
  NO_VERDICT: createError('KADM_AUDIT_NO_VERDICT', 'No audit verdict for %s yet (the worker audits every upload; the sweep finds the rest)', 404),
} as const

declare module 'fastify' {
  interface FastifyInstance {
    /** Runs `read` against the audit results: 503 KADM_AUDIT_NOT_CONFIGURED without REDIS_URL, KADM_AUDIT_UNAVAILABLE when Redis does not answer. */
    auditResults<T>(read: (store: AuditStore) => Promise<T>): Promise<T>
  }
}

export interface AuditRoutesOptions {
  config: { REDIS_URL?: string; BUCKET: string; AUDIT_VERIFY_KEY?: string }
  /** Least time between two reads of Redis for the figures (ms). */
  commandTimeoutMs?: number
}

const Json = Type.Object({}, { additionalProperties: true })
const ListQuery = Type.Object({
  verdict: Type.Optional(Type.Union(VERDICTS.map((v) => Type.Literal(v)))),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Verdicts given at or after this time.' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'Verdicts given at or before this time.' })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$', description: 'nextCursor from the previous page.' })),
})
const ListResponse = Type.Object({
  items: Type.Array(Json),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
  total: Type.Integer(),
})
const SummaryResponse = Type.Object({
  bucket: Type.String(),
  total: Type.Integer(),
  byVerdict: Type.Record(Type.String(), Type.Integer()),
  queue: Type.Record(Type.String(), Type.Integer()),
  lookupEvents: Type.Object({ calls: Type.Integer(), throttles: Type.Integer() }),
  delaySeconds: Type.Object({ p50: Type.Union([Type.Number(), Type.Null()]), p99: Type.Union([Type.Number(), Type.Null()]), count: Type.Integer() }),
})

/** HTML without <link> elements pointing at another origin (style sheets, fonts, preconnects). */
export function withoutExternalLinks(html: string): string {
  return html.replace(/<link\b[^>]*\bhref=["']?(?:https?:)?\/\/[^>]*>\s*/gi, '')
}

const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children'] as const

export const auditRoutes = fp(async function auditRoutes(outer: FastifyInstance, options: AuditRoutesOptions) {
  const { config } = options
  const redisUrl = config.REDIS_URL
  // Reads fail fast when Redis is away: the API answers 503 instead of hanging.
  const redis = redisUrl
    ? new Redis(redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: options.commandTimeoutMs ?? 2_000 })
    : undefined
  redis?.on('error', (err) => outer.log.debug({ err: err.message }, 'audit: redis connection error'))
  if (redis) redis.connect().catch((err: Error) => outer.log.warn({ err: err.message }, 'audit: Redis not reachable yet; the audit routes answer 503 until it is'))
  // Only the worker's public key here: keyadmin can check verdicts, never make one.
  if (redis && !config.AUDIT_VERIFY_KEY) throw new Error('the audit routes need AUDIT_VERIFY_KEY with REDIS_URL')
  const store = redis && config.AUDIT_VERIFY_KEY ? new AuditStore(redis, auditVerifier(config.AUDIT_VERIFY_KEY)) : undefined
  const queue = redis ? new Queue(AUDIT_QUEUE, { connection: redis }) : undefined
  queue?.on('error', (err) => outer.log.debug({ err: err.message }, 'audit queue error'))
  outer.addHook('onClose', async () => {
    await queue?.close().catch(() => {})
    redis?.disconnect()
  })

  const ready = (): AuditStore => {
    if (!store) throw new AuditErrors.NOT_CONFIGURED()
    if (redis?.status !== 'ready') throw new AuditErrors.UNAVAILABLE(`Redis is ${redis?.status}`)
    return store
  }
  const guarded = async <T>(read: () => Promise<T>): Promise<T> => {
    try {
      return await read()
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('KADM_')) throw err
      throw new AuditErrors.UNAVAILABLE((err as Error).message)
    }
  }
  // Other routes (a key's impact report and objects) read the same results through this.
  outer.decorate('auditResults', <T>(read: (s: AuditStore) => Promise<T>) => guarded(() => read(ready())))
  const queueCounts = async (): Promise<Record<string, number>> => (queue ? queue.getJobCounts(...JOB_STATES) : {})

  // Prometheus figures, read from Redis at scrape time (the worker runs in its own process).
  const registry = new Registry()
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => Promise<void>) =>
    new Gauge({ name, help, labelNames, registers: [registry], async collect() { await collect(this) } })
  gauge('kms_audit_queue_jobs', 'Audit jobs by state.', ['state'], async (g) => {
    const counts = await queueCounts()
    for (const state of JOB_STATES) g.set({ state }, counts[state] ?? 0)
  })
  gauge('kms_audit_verdicts', 'Objects by their current audit verdict.', ['verdict'], async (g) => {
    const { byVerdict } = await ready().summary()
    for (const v of VERDICTS) g.set({ verdict: v }, byVerdict[v])
  })
  gauge('kms_audit_verdict_delay_seconds', 'Upload to verdict delay over the newest 10,000 uploads.', ['quantile'], async (g) => {
    const delays = await ready().delays()
    for (const q of [0.5, 0.9, 0.99]) g.set({ quantile: String(q) }, quantile(delays, q) ?? 0)
  })
  const counter = (name: string, help: string, stat: string) =>
    new Counter({ name, help, registers: [registry], async collect() {
      const stats = await ready().stats()
      this.reset()
      this.inc(stats[stat] ?? 0)
    } })
  counter('kms_audit_lookup_events_calls_total', 'CloudTrail LookupEvents calls made by the audit workers.', 'lookup_calls')
  counter('kms_audit_lookup_events_throttles_total', 'LookupEvents calls refused with ThrottlingException.', 'lookup_throttles')

  await outer.register(async (app) => {
    app.addHook('onRequest', requireScope('audit:read'))

    app.get('/audit', {
      schema: { summary: 'Audit verdicts, newest first; filter by verdict and time; paged (pass nextCursor as ?cursor).', tags: ['audit'], querystring: ListQuery, response: { 200: ListResponse, ...problemResponses(400, 401, 403, 503) } },
    }, async (request) => {
      const q = request.query as Static<typeof ListQuery>
      return guarded(() => ready().list({
        ...(q.verdict ? { verdict: q.verdict } : {}),
        ...(q.since ? { since: Date.parse(q.since) } : {}),
        ...(q.until ? { until: Date.parse(q.until) } : {}),
        limit: q.limit,
        ...(q.cursor ? { cursor: q.cursor } : {}),
      }))
    })

    app.get('/audit/summary', {
      schema: { summary: 'Verdict counts, the queue, LookupEvents calls and the upload→verdict delay.', tags: ['audit'], response: { 200: SummaryResponse, ...problemResponses(401, 403, 503) } },
    }, async () => guarded(async () => {
      const s = ready()
      const [summary, counts, stats, delays] = await Promise.all([s.summary(), queueCounts(), s.stats(), s.delays()])
      return {
        bucket: config.BUCKET,
        ...summary,
        queue: counts,
        lookupEvents: { calls: stats.lookup_calls ?? 0, throttles: stats.lookup_throttles ?? 0 },
        delaySeconds: { p50: quantile(delays, 0.5), p99: quantile(delays, 0.99), count: delays.length },
      }
    }))

    app.get('/audit/objects/*', {
      schema: {
        summary: "One object's audit: verdict (TAMPERED when its signature fails), the matched GenerateDataKey event and its encryption context, and its readers (Decrypt events).",
        tags: ['audit'],
        params: Type.Object({ '*': Type.String({ minLength: 1, description: 'The object key.' }) }),
        response: { 200: Json, ...problemResponses(401, 403, 404, 503) },
      },
    }, async (request) => {
      const key = (request.params as { '*': string })['*']
      return guarded(async () => {
        const s = ready()
        const [record, readers] = await Promise.all([s.inspectVerdict(config.BUCKET, key), s.readers(config.BUCKET, key)])
        if (!record) throw new AuditErrors.NO_VERDICT(JSON.stringify(key))
        if (record.signature !== 'valid') return { ...record, readers }
        const readersNote = record.proves === 'bucket' ? 'S3 Bucket Key: Decrypt events name the bucket, so readers cannot be told apart per object' : undefined
        // The signed verdict counted its readers: fewer trustworthy ones now means evidence was removed or changed.
        const kept = readers.filter((r) => r.signature === 'valid').length
        const missing = Math.max(0, (record.reads?.total ?? 0) - kept)
        return { ...record, readers, ...(missing ? { readersMissing: missing } : {}), ...(readersNote ? { readersNote } : {}) }
      })
    })

    app.get('/metrics', {
      schema: { summary: 'Prometheus text format: queue depth, verdicts by kind, LookupEvents calls and throttles, upload→verdict delay.', tags: ['audit'], response: problemResponses(401, 403, 503) },
    }, async (_request, reply) => {
      const text = await guarded(() => registry.metrics())
      return reply.type(registry.contentType).send(text)
    })

    if (queue) {
      // The dashboard reads; it may not retry or remove jobs (audit:read is a read scope).
      const board = new FastifyAdapter()
      createBullBoard({ queues: [new BullMQAdapter(queue, { readOnlyMode: true })], serverAdapter: board })
      board.setBasePath('/audit/queues')
      await app.register(async (dashboard) => {
        // Its page links web fonts from Google: nothing loads from outside the deployment, so those links go (it falls back to local fonts).
        dashboard.addHook('onSend', async (_request, reply, payload) =>
          typeof payload === 'string' && String(reply.getHeader('content-type')).startsWith('text/html') ? withoutExternalLinks(payload) : payload)
        await dashboard.register(board.registerPlugin(), { prefix: '/audit/queues' })
      })
    }
  })
}, { name: 'keyadmin-audit', fastify: '5.x' })
