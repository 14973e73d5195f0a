// POST /keys/:key/import: imported key material in one call, without openssl by hand — GetParametersForImport,
// wrap fresh 256-bit material (or the caller's) with the returned public key, ImportKeyMaterial.
// The material lives only in this request's memory, is zeroed afterwards and is never logged or answered.
// Deleting it is DELETE /keys/:key/material (routes/keys.ts, MFA-guarded).
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { GetParametersForImportCommand, ImportKeyMaterialCommand } from '@aws-sdk/client-kms'
import { problemResponses } from '@kms-share/shared'
import { aws } from '../aws-errors.js'
import { resolveKey } from '../keys.js'
import { KeyParams } from '../schemas/keys.js'
import { NetworkErrors } from '../network/errors.js'
import { SYMMETRIC_MATERIAL_BYTES, WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS, wrapKeyMaterial } from '../network/wrap.js'

const ImportBody = Type.Object({
  material: Type.Optional(Type.String({
    // 32 bytes in base64: 43 characters and one '='. The pattern's message never echoes the value.
    pattern: '^[A-Za-z0-9+/]{43}=$',
    description: 'Your 256-bit key material, base64 (keep a copy: re-importing after deletion needs the same material). Without it keyadmin generates fresh material that nobody else ever sees.',
  })),
  wrappingAlgorithm: Type.Union(WRAPPING_ALGORITHMS.map((a) => Type.Literal(a)), { default: 'RSAES_OAEP_SHA_256' }),
  wrappingKeySpec: Type.Union(WRAPPING_KEY_SPECS.map((s) => Type.Literal(s)), { default: 'RSA_2048' }),
  validTo: Type.Optional(Type.String({ format: 'date-time', description: 'When the material expires (KEY_MATERIAL_EXPIRES); without it, it does not expire.' })),
}, { additionalProperties: false })

const ImportResult = Type.Object({
  keyId: Type.String(),
  arn: Type.String(),
  state: Type.String(),
  origin: Type.String(),
  expirationModel: Type.String(),
  validTo: Type.Optional(Type.String()),
  wrappingAlgorithm: Type.String(),
  wrappingKeySpec: Type.String(),
  material: Type.Union([Type.Literal('generated'), Type.Literal('uploaded')]),
  note: Type.String(),
})

export async function keyMaterialRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { kms } = app

  app.post('/keys/:key/import', {
    schema: {
      summary: 'Imports key material into an EXTERNAL key: GetParametersForImport → wrap (RSAES_OAEP_SHA_256 by default) → ImportKeyMaterial. PendingImport becomes Enabled.',
      tags: ['keys'],
      params: KeyParams,
      body: ImportBody,
      response: { 200: ImportResult, ...problemResponses(400, 401, 403, 404, 409, 502, 503) },
    },
  }, async (request) => {
    const { wrappingAlgorithm, wrappingKeySpec, validTo } = request.body
    let expires: Date | undefined
    if (validTo !== undefined) {
      expires = new Date(validTo)
      if (!(expires.getTime() > Date.now())) throw new NetworkErrors.IMPORT_MATERIAL(`validTo must be in the future (got ${validTo})`)
    }
    const meta = await resolveKey(kms, request.params.key)
    const keyId = meta.KeyId ?? ''
    const hints = { subject: { key: request.params.key } }
    const params = await aws(kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: wrappingAlgorithm, WrappingKeySpec: wrappingKeySpec })), { action: 'kms:GetParametersForImport', ...hints })
    if (!params.PublicKey || !params.ImportToken) throw new Error('GetParametersForImport answered without a public key or import token')
    const uploaded = request.body.material !== undefined
    const material = uploaded ? Buffer.from(request.body.material!, 'base64') : randomBytes(SYMMETRIC_MATERIAL_BYTES)
    let wrapped: Buffer
    try {
      if (material.length !== SYMMETRIC_MATERIAL_BYTES) throw new NetworkErrors.IMPORT_MATERIAL(`key material must be ${SYMMETRIC_MATERIAL_BYTES} bytes (256 bits), base64-encoded`)
      wrapped = wrapKeyMaterial(material, params.PublicKey, wrappingAlgorithm)
    } finally {
      material.fill(0)
      // The request body's copy too: nothing of the material outlives the request.
      if (uploaded) request.body.material = undefined
    }
    await aws(kms.send(new ImportKeyMaterialCommand({
      KeyId: keyId,
      ImportToken: params.ImportToken,
      EncryptedKeyMaterial: wrapped,
      ExpirationModel: expires ? 'KEY_MATERIAL_EXPIRES' : 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      ...(expires ? { ValidTo: expires } : {}),
    })), { action: 'kms:ImportKeyMaterial', ...hints })
    request.log.info({ keyId, wrappingAlgorithm, wrappingKeySpec, material: uploaded ? 'uploaded' : 'generated', expires: expires?.toISOString() }, 'key material imported')
    const after = await resolveKey(kms, keyId)
    return {
      keyId,
      arn: after.Arn ?? '',
      state: after.KeyState ?? '',
      origin: after.Origin ?? '',
      expirationModel: after.ExpirationModel ?? (expires ? 'KEY_MATERIAL_EXPIRES' : 'KEY_MATERIAL_DOES_NOT_EXPIRE'),
      ...(after.ValidTo ? { validTo: after.ValidTo.toISOString() } : {}),
      wrappingAlgorithm,
      wrappingKeySpec,
      material: uploaded ? 'uploaded' as const : 'generated' as const,
      note: uploaded
        ? 'Keep your copy of the material: after DELETE /keys/:key/material or expiry, only the same material brings the key back.'
        : 'keyadmin generated this material and kept no copy: if it is deleted or expires, the key cannot be restored and what it encrypted cannot be decrypted.',
    }
  })
}
