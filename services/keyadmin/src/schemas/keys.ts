// Route schemas for keys, aliases, rotation, deletion and tags.
import { Type } from 'typebox'

export const KeyParams = Type.Object({
  key: Type.String({ minLength: 1, maxLength: 2048, description: 'Key id, key ARN, alias name (alias/…) or alias ARN; URL-encode / and :.' }),
})

export const RotationSchema = Type.Object({
  enabled: Type.Boolean(),
  supported: Type.Boolean({ description: 'KMS rotates only symmetric keys with KMS-generated material.' }),
  periodInDays: Type.Optional(Type.Integer()),
  nextRotationDate: Type.Optional(Type.String()),
})

export const KeySummarySchema = Type.Object({
  keyId: Type.String(),
  arn: Type.String(),
  aliases: Type.Array(Type.String()),
  state: Type.String({ description: 'Enabled, Disabled, PendingDeletion, PendingImport …' }),
  origin: Type.String({ description: 'AWS_KMS or EXTERNAL (imported key material).' }),
  manager: Type.String({ description: 'CUSTOMER or AWS.' }),
  description: Type.String(),
  keySpec: Type.String(),
  keyUsage: Type.String(),
  creationDate: Type.Optional(Type.String()),
  deletionDate: Type.Optional(Type.String()),
  expirationModel: Type.Optional(Type.String({ description: 'EXTERNAL keys: KEY_MATERIAL_EXPIRES or KEY_MATERIAL_DOES_NOT_EXPIRE.' })),
  validTo: Type.Optional(Type.String({ description: 'When imported key material expires.' })),
  rotation: RotationSchema,
  tagCount: Type.Integer(),
})

export const TagsSchema = Type.Record(Type.String(), Type.String(), { description: 'Tag key → value.' })

export const KeyDetailSchema = Type.Intersect([KeySummarySchema, Type.Object({ tags: TagsSchema })])

export const KeyListSchema = Type.Object({ keys: Type.Array(KeySummarySchema) })

export const KeyListQuerySchema = Type.Object({
  manager: Type.Optional(Type.Union([Type.Literal('CUSTOMER'), Type.Literal('AWS')], { description: 'Customer managed keys or AWS managed keys only.' })),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Case-insensitive search in key id, ARN, aliases, description and tags.' })),
}, { additionalProperties: false })

export const UpdateKeyBodySchema = Type.Object({
  description: Type.String({ maxLength: 8192, description: "The key's description (UpdateKeyDescription); empty clears it." }),
}, { additionalProperties: false })

export const CreateKeyBodySchema = Type.Object({
  description: Type.Optional(Type.String({ maxLength: 8192 })),
  origin: Type.Optional(Type.Union([Type.Literal('AWS_KMS'), Type.Literal('EXTERNAL')], { default: 'AWS_KMS', description: 'EXTERNAL: key material to be imported.' })),
  alias: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'alias/NAME to create for the key.' })),
  tags: Type.Optional(TagsSchema),
}, { additionalProperties: false })

export const AliasSchema = Type.Object({
  name: Type.String(),
  arn: Type.String(),
  targetKeyId: Type.Optional(Type.String()),
  awsManaged: Type.Boolean({ description: 'alias/aws/… names belong to AWS managed keys.' }),
})

export const AliasListSchema = Type.Object({ aliases: Type.Array(AliasSchema) })

export const AliasParams = Type.Object({ alias: Type.String({ minLength: 1, maxLength: 256, description: 'alias/NAME (URL-encoded) or NAME.' }) })

export const CreateAliasBodySchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256, description: 'alias/NAME or NAME.' }),
  key: Type.String({ minLength: 1, description: 'The target key (id, ARN or alias).' }),
}, { additionalProperties: false })

export const MoveAliasBodySchema = Type.Object({ key: Type.String({ minLength: 1, description: 'The new target key.' }) }, { additionalProperties: false })

export const DeletionBodySchema = Type.Object({
  pendingWindowInDays: Type.Integer({ minimum: 7, maximum: 30, default: 30, description: 'Days before the key is deleted (7–30).' }),
}, { additionalProperties: false })

export const DeletionSchema = Type.Object({ keyId: Type.String(), state: Type.String(), deletionDate: Type.Optional(Type.String()), pendingWindowInDays: Type.Optional(Type.Integer()) })

export const RotationBodySchema = Type.Object({
  enabled: Type.Boolean(),
  periodInDays: Type.Optional(Type.Integer({ minimum: 90, maximum: 2560, description: 'Automatic rotation period (90–2560 days).' })),
}, { additionalProperties: false })

export const RotationDetailSchema = Type.Intersect([RotationSchema, Type.Object({
  rotations: Type.Array(Type.Object({ date: Type.String(), type: Type.String({ description: 'AUTOMATIC or ON_DEMAND.' }) })),
})])

export const StateSchema = Type.Object({ keyId: Type.String(), state: Type.String() })

export const PutTagsBodySchema = Type.Object({ tags: TagsSchema }, { additionalProperties: false })
export const DeleteTagsQuerySchema = Type.Object({
  keys: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description: 'Tag keys to remove (repeat ?keys=).' }),
})

/** A grant as ListGrants answers it (the access matrix and GET /keys/:key/grants). */
export const KeyGrantSchema = Type.Object({
  grantId: Type.String(),
  name: Type.Optional(Type.String()),
  granteePrincipal: Type.String(),
  retiringPrincipal: Type.Optional(Type.String()),
  operations: Type.Array(Type.String()),
  creationDate: Type.Optional(Type.String()),
  constraints: Type.Optional(Type.Object({
    EncryptionContextEquals: Type.Optional(Type.Record(Type.String(), Type.String())),
    EncryptionContextSubset: Type.Optional(Type.Record(Type.String(), Type.String())),
  })),
})
