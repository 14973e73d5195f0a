// Keys and their lifecycle: list, describe, create (symmetric; EXTERNAL allowed), aliases,
// enable/disable, deletion schedules, rotation, imported material, tags.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import {
  CancelKeyDeletionCommand, CreateAliasCommand, CreateKeyCommand, DeleteAliasCommand, DeleteImportedKeyMaterialCommand,
  DisableKeyCommand, DisableKeyRotationCommand, EnableKeyCommand, EnableKeyRotationCommand, ListKeyRotationsCommand,
  RotateKeyOnDemandCommand, ScheduleKeyDeletionCommand, TagResourceCommand, UntagResourceCommand, UpdateAliasCommand, UpdateKeyDescriptionCommand,
  type AliasListEntry,
} from '@aws-sdk/client-kms'
import { problemResponses } from '@kms-share/shared'
import { aws } from '../aws-errors.js'
import { keySummary, listAllAliases, listAllKeyIds, listAllTags, mapLimit, resolveKey, rotationOf } from '../keys.js'
import { KeyadminErrors } from '../errors.js'
import { checkTags } from '../tags.js'
import {
  AliasListSchema, AliasParams, CreateAliasBodySchema, CreateKeyBodySchema, DeleteTagsQuerySchema, DeletionBodySchema, DeletionSchema,
  KeyDetailSchema, KeyListQuerySchema, KeyListSchema, KeyParams, UpdateKeyBodySchema, MoveAliasBodySchema, PutTagsBodySchema, RotationBodySchema, RotationDetailSchema, StateSchema, TagsSchema,
} from '../schemas/keys.js'

const aliasName = (name: string) => (name.startsWith('alias/') ? name : `alias/${name}`)
const aliasOut = (a: AliasListEntry) => ({
  name: a.AliasName ?? '',
  arn: a.AliasArn ?? '',
  ...(a.TargetKeyId ? { targetKeyId: a.TargetKeyId } : {}),
  awsManaged: (a.AliasName ?? '').startsWith('alias/aws/'),
})
const tagsOut = (tags: Array<{ TagKey?: string; TagValue?: string }>) => Object.fromEntries(tags.map((t) => [t.TagKey ?? '', t.TagValue ?? '']))

export interface KeysRouteOptions {
  /** Parallel DescribeKey/rotation/tag calls when listing keys. */
  concurrency?: number
}

export async function keysRoutes(fastify: FastifyInstance, options: KeysRouteOptions = {}) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { kms } = app
  const concurrency = options.concurrency ?? 8
  const errors = problemResponses(400, 401, 403, 404, 409, 502, 503)

  async function detail(ref: string) {
    const meta = await resolveKey(kms, ref)
    const [aliases, tags] = await Promise.all([listAllAliases(kms, meta.KeyId), listAllTags(kms, meta.KeyId ?? '')])
    const summary = await keySummary(kms, meta, aliases)
    return { ...summary, tags: tagsOut(tags) }
  }

  /** A missing alias is a 404 before an MFA code is asked for: a person's code is not spent on a request that cannot succeed. */
  async function existingAlias(name: string): Promise<void> {
    if (!(await listAllAliases(kms)).some((a) => a.AliasName === name && a.TargetKeyId)) throw new KeyadminErrors.ALIAS_NOT_FOUND(name)
  }

  app.get('/keys', {
    schema: {
      summary: 'Customer managed and AWS managed keys with aliases, state, origin, rotation and tag count; ?manager=CUSTOMER|AWS and ?q= (id, ARN, alias, description, tag) narrow the list.',
      tags: ['keys'], querystring: KeyListQuerySchema, response: { 200: KeyListSchema, ...errors },
    },
  }, async (request) => {
    const { manager, q } = request.query
    const [ids, aliases] = await Promise.all([listAllKeyIds(kms), listAllAliases(kms)])
    const metas = (await mapLimit(ids, concurrency, (id) => resolveKey(kms, id))).filter((m) => !manager || (m.KeyManager ?? 'CUSTOMER') === manager)
    const keys = await mapLimit(metas, concurrency, async (meta) => {
      const summary = await keySummary(kms, meta, aliases)
      if (!q) return summary
      const tags = await listAllTags(kms, summary.keyId)
      const haystack = [summary.keyId, summary.arn, summary.description, ...summary.aliases, ...tags.flatMap((t) => [t.TagKey ?? '', t.TagValue ?? ''])]
      return haystack.some((h) => h.toLowerCase().includes(q.toLowerCase())) ? summary : undefined
    })
    return { keys: keys.filter((k) => k !== undefined) }
  })

  app.get('/keys/:key', {
    schema: { summary: 'One key: metadata, aliases, rotation and tags.', tags: ['keys'], params: KeyParams, response: { 200: KeyDetailSchema, ...errors } },
  }, async (request) => detail(request.params.key))

  app.patch('/keys/:key', {
    schema: { summary: "Changes the key's description (UpdateKeyDescription).", tags: ['keys'], params: KeyParams, body: UpdateKeyBodySchema, response: { 200: KeyDetailSchema, ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    await aws(kms.send(new UpdateKeyDescriptionCommand({ KeyId: meta.KeyId, Description: request.body.description })), { action: 'kms:UpdateKeyDescription', subject: { key: request.params.key } })
    return detail(meta.KeyId ?? '')
  })

  app.post('/keys', {
    schema: { summary: 'Creates a symmetric encryption key (origin EXTERNAL: for imported key material), with an optional alias and tags.', tags: ['keys'], body: CreateKeyBodySchema, response: { 201: KeyDetailSchema, ...errors } },
  }, async (request, reply) => {
    const { description, origin, alias, tags } = request.body
    if (tags) checkTags(tags, [])
    const created = await aws(kms.send(new CreateKeyCommand({
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      Origin: origin ?? 'AWS_KMS',
      ...(description ? { Description: description } : {}),
      ...(tags ? { Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })) } : {}),
    })), { action: 'kms:CreateKey' })
    const keyId = created.KeyMetadata?.KeyId ?? ''
    if (alias) await aws(kms.send(new CreateAliasCommand({ AliasName: aliasName(alias), TargetKeyId: keyId })), { action: 'kms:CreateAlias' })
    reply.code(201)
    return detail(keyId)
  })

  // ---- aliases
  app.get('/aliases', {
    schema: { summary: 'Every alias and its target key.', tags: ['aliases'], response: { 200: AliasListSchema, ...errors } },
  }, async () => ({ aliases: (await listAllAliases(kms)).map(aliasOut) }))

  app.post('/aliases', {
    schema: { summary: 'Creates an alias for a key.', tags: ['aliases'], body: CreateAliasBodySchema, response: { 201: Type.Object({ name: Type.String(), targetKeyId: Type.String() }), ...errors } },
  }, async (request, reply) => {
    const meta = await resolveKey(kms, request.body.key)
    const name = aliasName(request.body.name)
    await aws(kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: meta.KeyId })), { action: 'kms:CreateAlias' })
    reply.code(201)
    return { name, targetKeyId: meta.KeyId ?? '' }
  })

  app.put('/aliases/:alias', {
    schema: { summary: 'Moves an alias to another key (MFA-guarded when configured: X-MFA-Code).', tags: ['aliases'], params: AliasParams, body: MoveAliasBodySchema, response: { 200: Type.Object({ name: Type.String(), targetKeyId: Type.String() }), ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.body.key)
    const name = aliasName(request.params.alias)
    await existingAlias(name)
    await app.mfa.sensitive(request, 'kms:UpdateAlias', (client) => aws(client.send(new UpdateAliasCommand({ AliasName: name, TargetKeyId: meta.KeyId })), { action: 'kms:UpdateAlias', subject: { alias: name } }))
    return { name, targetKeyId: meta.KeyId ?? '' }
  })

  app.delete('/aliases/:alias', {
    schema: { summary: 'Deletes an alias (MFA-guarded when configured: X-MFA-Code).', tags: ['aliases'], params: AliasParams, response: { 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    const name = aliasName(request.params.alias)
    await existingAlias(name)
    await app.mfa.sensitive(request, 'kms:DeleteAlias', (client) => aws(client.send(new DeleteAliasCommand({ AliasName: name })), { action: 'kms:DeleteAlias', subject: { alias: name } }))
    return reply.code(204).send(null)
  })

  // ---- state
  for (const [path, Command, action, summary] of [
    ['enable', EnableKeyCommand, 'kms:EnableKey', 'Enables the key.'],
    ['disable', DisableKeyCommand, 'kms:DisableKey', 'Disables the key: every use fails until it is enabled again (MFA-guarded when configured: X-MFA-Code).'],
  ] as const) {
    app.post(`/keys/:key/${path}`, {
      schema: { summary, tags: ['keys'], params: KeyParams, response: { 200: StateSchema, ...errors } },
    }, async (request) => {
      const meta = await resolveKey(kms, request.params.key)
      const change = (client: typeof kms) => aws(client.send(new Command({ KeyId: meta.KeyId })), { action, subject: { key: request.params.key } })
      // Disabling stops every use of the key: a sensitive operation. Enabling undoes it and is not.
      await (action === 'kms:DisableKey' ? app.mfa.sensitive(request, action, change) : change(kms))
      const after = await resolveKey(kms, meta.KeyId ?? '')
      return { keyId: after.KeyId ?? '', state: after.KeyState ?? '' }
    })
  }

  // ---- deletion
  app.post('/keys/:key/deletion', {
    schema: { summary: 'Schedules deletion after 7–30 days (MFA-guarded when configured: X-MFA-Code).', tags: ['keys'], params: KeyParams, body: DeletionBodySchema, response: { 200: DeletionSchema, ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    const out = await app.mfa.sensitive(request, 'kms:ScheduleKeyDeletion', (client) => aws(client.send(new ScheduleKeyDeletionCommand({
      KeyId: meta.KeyId, PendingWindowInDays: request.body.pendingWindowInDays,
    })), { action: 'kms:ScheduleKeyDeletion', subject: { key: request.params.key } }))
    return {
      keyId: meta.KeyId ?? '',
      state: out.KeyState ?? 'PendingDeletion',
      ...(out.DeletionDate ? { deletionDate: out.DeletionDate.toISOString() } : {}),
      ...(out.PendingWindowInDays ? { pendingWindowInDays: out.PendingWindowInDays } : {}),
    }
  })

  app.delete('/keys/:key/deletion', {
    schema: { summary: 'Cancels a scheduled deletion; the key comes back Disabled, as KMS does it.', tags: ['keys'], params: KeyParams, response: { 200: DeletionSchema, ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    await aws(kms.send(new CancelKeyDeletionCommand({ KeyId: meta.KeyId })), { action: 'kms:CancelKeyDeletion', subject: { key: request.params.key } })
    const after = await resolveKey(kms, meta.KeyId ?? '')
    return { keyId: after.KeyId ?? '', state: after.KeyState ?? '' }
  })

  // ---- rotation
  async function rotationDetail(ref: string) {
    const meta = await resolveKey(kms, ref)
    const rotation = await rotationOf(kms, meta)
    const rotations = rotation.supported
      ? (await aws(kms.send(new ListKeyRotationsCommand({ KeyId: meta.KeyId })), { action: 'kms:ListKeyRotations', subject: { key: ref } })).Rotations ?? []
      : []
    return { ...rotation, rotations: rotations.map((r) => ({ date: r.RotationDate?.toISOString() ?? '', type: r.RotationType ?? '' })) }
  }

  app.get('/keys/:key/rotation', {
    schema: { summary: 'Automatic rotation status and past rotations.', tags: ['rotation'], params: KeyParams, response: { 200: RotationDetailSchema, ...errors } },
  }, async (request) => rotationDetail(request.params.key))

  app.put('/keys/:key/rotation', {
    schema: { summary: 'Turns automatic rotation on (with a period of 90–2560 days) or off.', tags: ['rotation'], params: KeyParams, body: RotationBodySchema, response: { 200: RotationDetailSchema, ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    const { enabled, periodInDays } = request.body
    if (enabled) await aws(kms.send(new EnableKeyRotationCommand({ KeyId: meta.KeyId, ...(periodInDays ? { RotationPeriodInDays: periodInDays } : {}) })), { action: 'kms:EnableKeyRotation', subject: { key: request.params.key } })
    else await aws(kms.send(new DisableKeyRotationCommand({ KeyId: meta.KeyId })), { action: 'kms:DisableKeyRotation', subject: { key: request.params.key } })
    return rotationDetail(meta.KeyId ?? '')
  })

  app.post('/keys/:key/rotations', {
    schema: { summary: 'Rotates the key material now (on-demand rotation; an imported key to the material imported as NEW_KEY_MATERIAL).', tags: ['rotation'], params: KeyParams, response: { 200: RotationDetailSchema, ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    await aws(kms.send(new RotateKeyOnDemandCommand({ KeyId: meta.KeyId })), { action: 'kms:RotateKeyOnDemand', subject: { key: request.params.key } })
    return rotationDetail(meta.KeyId ?? '')
  })

  // ---- imported key material
  app.delete('/keys/:key/material', {
    schema: { summary: 'Deletes imported key material: the key becomes PendingImport (MFA-guarded when configured: X-MFA-Code).', tags: ['keys'], params: KeyParams, response: { 200: StateSchema, ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    await app.mfa.sensitive(request, 'kms:DeleteImportedKeyMaterial', (client) => aws(client.send(new DeleteImportedKeyMaterialCommand({ KeyId: meta.KeyId })), { action: 'kms:DeleteImportedKeyMaterial', subject: { key: request.params.key } }))
    const after = await resolveKey(kms, meta.KeyId ?? '')
    return { keyId: after.KeyId ?? '', state: after.KeyState ?? '' }
  })

  // ---- tags
  app.get('/keys/:key/tags', {
    schema: { summary: "The key's tags.", tags: ['tags'], params: KeyParams, response: { 200: Type.Object({ tags: TagsSchema }), ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    return { tags: tagsOut(await listAllTags(kms, meta.KeyId ?? '')) }
  })

  app.put('/keys/:key/tags', {
    schema: { summary: "Adds or overwrites tags (AWS's limits checked first: 50 per key, key 1–128, value 0–256, no aws: prefix).", tags: ['tags'], params: KeyParams, body: PutTagsBodySchema, response: { 200: Type.Object({ tags: TagsSchema }), ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    const keyId = meta.KeyId ?? ''
    const existing = await listAllTags(kms, keyId)
    checkTags(request.body.tags, existing.map((t) => t.TagKey ?? ''))
    await aws(kms.send(new TagResourceCommand({ KeyId: keyId, Tags: Object.entries(request.body.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })) })), { action: 'kms:TagResource', subject: { key: request.params.key } })
    return { tags: tagsOut(await listAllTags(kms, keyId)) }
  })

  app.delete('/keys/:key/tags', {
    schema: { summary: 'Removes tags by key (?keys=a&keys=b).', tags: ['tags'], params: KeyParams, querystring: DeleteTagsQuerySchema, response: { 200: Type.Object({ tags: TagsSchema }), ...errors } },
  }, async (request) => {
    const meta = await resolveKey(kms, request.params.key)
    const keys = Array.isArray(request.query.keys) ? request.query.keys : [request.query.keys]
    await aws(kms.send(new UntagResourceCommand({ KeyId: meta.KeyId, TagKeys: keys })), { action: 'kms:UntagResource', subject: { key: request.params.key } })
    return { tags: tagsOut(await listAllTags(kms, meta.KeyId ?? '')) }
  })
}
