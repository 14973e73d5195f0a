// GET /keys/:key/impact: what disabling or deleting the key would do (objects under it, its last use),
// and GET /keys/:key/objects: the audit's verdicts for the objects under the key.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { problemResponses } from '@kms-share/shared'
import { countObjects, impactSentences, lastUse, verdictsUnderKey, type ObjectsUnderKey } from '../impact.js'
import { listAllAliases, listAllGrants, resolveKey } from '../keys.js'
import { KeyParams } from '../schemas/keys.js'

const LastUseSchema = Type.Object({
  eventName: Type.String(), time: Type.String(), principal: Type.String(), name: Type.String(),
  invokedBy: Type.Union([Type.String(), Type.Null()]), errorCode: Type.Union([Type.String(), Type.Null()]),
})

const ImpactSchema = Type.Object({
  keyId: Type.String(),
  keyArn: Type.String(),
  state: Type.String(),
  bucket: Type.String(),
  objects: Type.Object({
    known: Type.Boolean({ description: 'false when the audit results (REDIS_URL) could not be read.' }),
    count: Type.Integer(), bytes: Type.Integer(), sizeUnknown: Type.Integer(), note: Type.Optional(Type.String()),
  }),
  lastUse: Type.Union([LastUseSchema, Type.Null()], { description: "CloudTrail's newest successful use of the key (null: none found)." }),
  cloudTrailEventsRead: Type.Integer(),
  lastUseNote: Type.Optional(Type.String({ description: 'Why the last use is not known (CloudTrail throttling).' })),
  aliases: Type.Array(Type.String()),
  grants: Type.Integer(),
  sentences: Type.Object({
    delete: Type.String({ description: 'e.g. "Deleting this key makes 1,204 objects (3.4 MB) in BUCKET unreadable, for good; last Decrypt 3 minutes ago by kms-share-downloader."' }),
    disable: Type.String(),
    lastUse: Type.String(),
  }),
})

const ObjectsSchema = Type.Object({
  keyId: Type.String(),
  bucket: Type.String(),
  items: Type.Array(Type.Object({
    key: Type.String(), etag: Type.String(), size: Type.Optional(Type.Integer()), verdict: Type.String(), reasons: Type.Array(Type.String()),
    verdictAt: Type.Optional(Type.String()), lastModified: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  })),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})

export async function keyImpactRoutes(fastify: FastifyInstance, options: { bucket: string }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { bucket } = options

  app.get('/keys/:key/impact', {
    schema: {
      summary: "Before disabling or deleting: how many of the bucket's objects (count, bytes) are under the key — from the audit's verdicts — and when CloudTrail last saw the key used, in words.",
      tags: ['keys'], params: KeyParams, response: { 200: ImpactSchema, ...problemResponses(400, 401, 403, 404, 502, 503) },
    },
  }, async (request) => {
    const meta = await resolveKey(app.kms, request.params.key)
    const keyArn = meta.Arn ?? ''
    const [objects, use, aliases, grants] = await Promise.all([
      app.auditResults((store) => verdictsUnderKey(store, bucket, keyArn)).then(
        ({ items }): ObjectsUnderKey => ({ known: true, ...countObjects(items) }),
        (err: unknown): ObjectsUnderKey => {
          // No audit results is a gap in the report, not a failure of it.
          if (err instanceof Error && 'code' in err && String(err.code).startsWith('KADM_AUDIT_')) return { known: false, count: 0, bytes: 0, sizeUnknown: 0, note: err.message }
          throw err
        }),
      lastUse(app.cloudtrail, keyArn),
      listAllAliases(app.kms, meta.KeyId),
      listAllGrants(app.kms, meta.KeyId ?? ''),
    ])
    return {
      keyId: meta.KeyId ?? '', keyArn, state: meta.KeyState ?? '', bucket, objects,
      lastUse: use.lastUse, cloudTrailEventsRead: use.eventsRead, ...(use.note ? { lastUseNote: use.note } : {}),
      aliases: aliases.map((a) => a.AliasName ?? ''), grants: grants.length,
      sentences: impactSentences(bucket, objects, use.lastUse, Date.now(), use.note),
    }
  })

  app.get('/keys/:key/objects', {
    config: { scope: 'audit:read' },
    schema: {
      summary: "The bucket's objects under the key (as HeadObject reported to the audit), newest verdict first, with their audit verdicts; paged with ?cursor=nextCursor.",
      tags: ['audit'], params: KeyParams,
      querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }), cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })) }, { additionalProperties: false }),
      response: { 200: ObjectsSchema, ...problemResponses(400, 401, 403, 404, 502, 503) },
    },
  }, async (request) => {
    const meta = await resolveKey(app.kms, request.params.key)
    const { limit, cursor } = request.query
    const page = await app.auditResults((store) => verdictsUnderKey(store, bucket, meta.Arn ?? '', { limit, ...(cursor ? { cursor: Number(cursor) } : {}) }))
    return { keyId: meta.KeyId ?? '', bucket, items: page.items, nextCursor: page.nextCursor }
  })
}
