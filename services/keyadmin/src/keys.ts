// Reading keys as KMS describes them: one place resolves a key reference (id, ARN, alias name or
// alias ARN) and one builds the summary that GET /keys and GET /keys/:key answer.
import {
  DescribeKeyCommand, GetKeyRotationStatusCommand, ListAliasesCommand, ListGrantsCommand, ListKeysCommand, ListResourceTagsCommand,
  type AliasListEntry, type KeyMetadata, type KMSClient, type Tag,
} from '@aws-sdk/client-kms'
import { aws } from './aws-errors.js'

export interface KeyRotation {
  enabled: boolean
  /** Whether KMS rotates this key at all (not for imported material, asymmetric or HMAC keys). */
  supported: boolean
  periodInDays?: number
  nextRotationDate?: string
}

export interface KeySummary {
  keyId: string
  arn: string
  aliases: string[]
  state: string
  origin: string
  manager: string
  description: string
  keySpec: string
  keyUsage: string
  creationDate?: string
  deletionDate?: string
  /** EXTERNAL keys: KEY_MATERIAL_EXPIRES or KEY_MATERIAL_DOES_NOT_EXPIRE, and when the material expires. */
  expirationModel?: string
  validTo?: string
  rotation: KeyRotation
  tagCount: number
}

/** KeyId for the KMS operations that take only a key id or ARN, from any reference DescribeKey takes. */
export async function resolveKey(kms: KMSClient, ref: string): Promise<KeyMetadata> {
  const out = await aws(kms.send(new DescribeKeyCommand({ KeyId: ref })), { action: 'kms:DescribeKey', subject: { key: ref } })
  if (!out.KeyMetadata?.KeyId) throw new Error('DescribeKey answered without KeyMetadata')
  return out.KeyMetadata
}

export async function listAllAliases(kms: KMSClient, keyId?: string): Promise<AliasListEntry[]> {
  const out: AliasListEntry[] = []
  let marker: string | undefined
  do {
    const page = await aws(kms.send(new ListAliasesCommand({ ...(keyId ? { KeyId: keyId } : {}), Limit: 100, Marker: marker })), { action: 'kms:ListAliases' })
    out.push(...(page.Aliases ?? []))
    marker = page.Truncated ? page.NextMarker : undefined
  } while (marker)
  return out
}

export async function listAllKeyIds(kms: KMSClient, max = 1000): Promise<string[]> {
  const out: string[] = []
  let marker: string | undefined
  do {
    const page = await aws(kms.send(new ListKeysCommand({ Limit: 100, Marker: marker })), { action: 'kms:ListKeys' })
    for (const k of page.Keys ?? []) if (k.KeyId) out.push(k.KeyId)
    marker = page.Truncated && out.length < max ? page.NextMarker : undefined
  } while (marker)
  return out
}

export async function listAllTags(kms: KMSClient, keyId: string): Promise<Tag[]> {
  const out: Tag[] = []
  let marker: string | undefined
  do {
    const page = await aws(kms.send(new ListResourceTagsCommand({ KeyId: keyId, Limit: 50, Marker: marker })), { action: 'kms:ListResourceTags', subject: { key: keyId } })
    out.push(...(page.Tags ?? []))
    marker = page.Truncated ? page.NextMarker : undefined
  } while (marker)
  return out
}

/** KMS rotates only symmetric keys with KMS-generated material (not imported, custom-store, asymmetric or HMAC keys). */
export function rotationSupported(meta: KeyMetadata): boolean {
  return meta.Origin === 'AWS_KMS' && (meta.KeySpec ?? 'SYMMETRIC_DEFAULT') === 'SYMMETRIC_DEFAULT' && meta.KeyManager !== 'AWS'
}

export async function rotationOf(kms: KMSClient, meta: KeyMetadata): Promise<KeyRotation> {
  if (!rotationSupported(meta) || meta.KeyState === 'PendingDeletion') return { enabled: false, supported: rotationSupported(meta) }
  const out = await aws(kms.send(new GetKeyRotationStatusCommand({ KeyId: meta.KeyId })), { action: 'kms:GetKeyRotationStatus', subject: { key: meta.KeyId ?? '' } })
  return {
    enabled: out.KeyRotationEnabled === true,
    supported: true,
    ...(out.RotationPeriodInDays ? { periodInDays: out.RotationPeriodInDays } : {}),
    ...(out.NextRotationDate ? { nextRotationDate: out.NextRotationDate.toISOString() } : {}),
  }
}

export async function keySummary(kms: KMSClient, meta: KeyMetadata, aliases: AliasListEntry[]): Promise<KeySummary> {
  const keyId = meta.KeyId ?? ''
  const [rotation, tags] = await Promise.all([rotationOf(kms, meta), listAllTags(kms, keyId)])
  return {
    keyId,
    arn: meta.Arn ?? '',
    aliases: aliases.filter((a) => a.TargetKeyId === keyId).map((a) => a.AliasName ?? '').sort(),
    state: meta.KeyState ?? 'Unknown',
    origin: meta.Origin ?? 'AWS_KMS',
    manager: meta.KeyManager ?? 'CUSTOMER',
    description: meta.Description ?? '',
    keySpec: meta.KeySpec ?? 'SYMMETRIC_DEFAULT',
    keyUsage: meta.KeyUsage ?? 'ENCRYPT_DECRYPT',
    ...(meta.CreationDate ? { creationDate: meta.CreationDate.toISOString() } : {}),
    ...(meta.DeletionDate ? { deletionDate: meta.DeletionDate.toISOString() } : {}),
    ...(meta.ExpirationModel ? { expirationModel: meta.ExpirationModel } : {}),
    ...(meta.ValidTo ? { validTo: meta.ValidTo.toISOString() } : {}),
    rotation,
    tagCount: tags.length,
  }
}

/** Runs `fn` over `items` with at most `limit` at a time, keeping order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/** A grant as ListGrants returns it (the fields the matrix reads). */
export interface KeyGrant {
  grantId: string
  name?: string
  granteePrincipal: string
  retiringPrincipal?: string
  operations: string[]
  creationDate?: string
  constraints?: { EncryptionContextEquals?: Record<string, string>; EncryptionContextSubset?: Record<string, string> }
}

/** Every grant on the key, page by page. */
export async function listAllGrants(kms: KMSClient, keyId: string): Promise<KeyGrant[]> {
  const out: KeyGrant[] = []
  let marker: string | undefined
  do {
    const page = await aws(kms.send(new ListGrantsCommand({ KeyId: keyId, Limit: 100, Marker: marker })), { action: 'kms:ListGrants', subject: { key: keyId } })
    for (const g of page.Grants ?? []) {
      if (!g.GrantId || !g.GranteePrincipal) continue
      const constraints = g.Constraints && (g.Constraints.EncryptionContextEquals || g.Constraints.EncryptionContextSubset)
        ? {
            ...(g.Constraints.EncryptionContextEquals ? { EncryptionContextEquals: g.Constraints.EncryptionContextEquals } : {}),
            ...(g.Constraints.EncryptionContextSubset ? { EncryptionContextSubset: g.Constraints.EncryptionContextSubset } : {}),
          }
        : undefined
      out.push({
        grantId: g.GrantId, granteePrincipal: g.GranteePrincipal, operations: [...(g.Operations ?? [])],
        ...(g.Name ? { name: g.Name } : {}), ...(g.CreationDate ? { creationDate: g.CreationDate.toISOString() } : {}), ...(g.RetiringPrincipal ? { retiringPrincipal: g.RetiringPrincipal } : {}), ...(constraints ? { constraints } : {}),
      })
    }
    marker = page.Truncated ? page.NextMarker : undefined
  } while (marker)
  return out
}
