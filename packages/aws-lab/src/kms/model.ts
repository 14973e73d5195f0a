// KMS state: keys, aliases and import tokens, persisted in the lab's `kms` state section.
// Key material is kept base64 in the state file: the lab is a lab, not an HSM.
import { hash, randomBytes, randomUUID } from 'node:crypto'
import type { StateStore } from '../core/types.js'
import { newKeyMaterial } from './crypto.js'

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport' | 'Unavailable'
export type KeyOrigin = 'AWS_KMS' | 'EXTERNAL'
export type ExpirationModel = 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE'

export interface Tag {
  TagKey: string
  TagValue: string
}

export interface KeyMaterialRecord {
  /** The number written into ciphertext blobs; an index into `materials`. */
  version: number
  /** AWS's KeyMaterialId: 64 hex digits (absent in state written before ids; see materialId()). */
  id?: string
  /** base64; absent after DeleteImportedKeyMaterial. */
  material?: string
  createdAt: number
  /** Imported as NEW_KEY_MATERIAL into a key that has material: waits for RotateKeyOnDemand. */
  pendingRotation?: boolean
  /** EXTERNAL keys: sha256 of the imported bytes; re-importing this material must bring the same bytes. */
  digest?: string
}

export interface RotationRecord {
  date: number
  type: 'AUTOMATIC' | 'ON_DEMAND'
}

export interface KeyRecord {
  keyId: string
  arn: string
  accountId: string
  region: string
  /** Epoch ms. */
  creationDate: number
  description: string
  keyUsage: 'ENCRYPT_DECRYPT'
  keySpec: 'SYMMETRIC_DEFAULT'
  origin: KeyOrigin
  /** AWS for AWS managed keys (alias/aws/s3, made by S3 on first use); absent = CUSTOMER. */
  keyManager?: 'AWS' | 'CUSTOMER'
  state: KeyState
  /** Epoch ms, while PendingDeletion. */
  deletionDate?: number
  pendingWindowInDays?: number
  /** The key policy text, exactly as stored and returned by GetKeyPolicy. */
  policy: string
  tags: Tag[]
  /** Every material this key ever had; the last one encrypts, all of them decrypt. */
  materials: KeyMaterialRecord[]
  rotationEnabled: boolean
  rotationPeriodInDays?: number
  /** Epoch ms. */
  nextRotationDate?: number
  rotations: RotationRecord[]
  /** EXTERNAL keys: sha256 of the first material imported; AWS only ever accepts that same material again. */
  importedMaterialDigest?: string
  expirationModel?: ExpirationModel
  /** Epoch ms. */
  validTo?: number
}

export interface AliasRecord {
  aliasName: string
  region: string
  accountId: string
  targetKeyId: string
  creationDate: number
  lastUpdatedDate: number
}

export interface ImportTokenRecord {
  keyId: string
  wrappingAlgorithm: string
  wrappingKeySpec: string
  /** PKCS#8 PEM of the wrapping key pair's private half. */
  privateKeyPem: string
  /** Epoch ms. */
  validTo: number
}

export interface GrantConstraints {
  EncryptionContextEquals?: Record<string, string>
  EncryptionContextSubset?: Record<string, string>
}

export interface GrantRecord {
  grantId: string
  keyId: string
  name?: string
  granteePrincipal: string
  retiringPrincipal?: string
  operations: string[]
  constraints?: GrantConstraints
  /** The account root ARN of the account that made the grant. */
  issuingAccount: string
  creationDate: number
  /** The grant token given back by CreateGrant (accepted in GrantTokens and RetireGrant). */
  token: string
  /** Tokens of later CreateGrant calls that found this grant again (same name and parameters). */
  tokens?: string[]
}

export interface KmsState {
  keys: Record<string, KeyRecord>
  /** Keyed by `region|aliasName`: alias names are unique per account and Region. */
  aliases: Record<string, AliasRecord>
  importTokens: Record<string, ImportTokenRecord>
  /** Keyed by grant id; absent in state written before grants existed. */
  grants: Record<string, GrantRecord>
}

export const KMS_SECTION = 'kms'
export const DAY_MS = 24 * 60 * 60 * 1000

export function kmsState(store: StateStore): KmsState {
  const state = store.section<KmsState>(KMS_SECTION, () => ({ keys: {}, aliases: {}, importTokens: {}, grants: {} }))
  state.grants ??= Object.create(null)
  return state
}

export function saveKms(store: StateStore): void {
  store.save(KMS_SECTION)
}

export function keyArn(region: string, accountId: string, keyId: string): string {
  return `arn:aws:kms:${region}:${accountId}:key/${keyId}`
}

export function aliasArn(region: string, accountId: string, aliasName: string): string {
  return `arn:aws:kms:${region}:${accountId}:${aliasName}`
}

export function aliasSlot(region: string, aliasName: string): string {
  return `${region}|${aliasName}`
}

/**
 * The default key policy, in the exact text AWS returns (two-space indent, `" : "`, `[ {`),
 * as the workshop shows it.
 */
export function defaultKeyPolicy(accountId: string): string {
  return [
    '{',
    '  "Version" : "2012-10-17",',
    '  "Id" : "key-default-1",',
    '  "Statement" : [ {',
    '    "Sid" : "Enable IAM User Permissions",',
    '    "Effect" : "Allow",',
    '    "Principal" : {',
    `      "AWS" : "arn:aws:iam::${accountId}:root"`,
    '    },',
    '    "Action" : "kms:*",',
    '    "Resource" : "*"',
    '  } ]',
    '}',
  ].join('\n')
}

export interface NewKeyOptions {
  accountId: string
  region: string
  description?: string
  origin?: KeyOrigin
  policy?: string
  tags?: Tag[]
  now?: number
  /** Chosen by the caller when the key policy had to be judged against the key ARN first. */
  keyId?: string
  /** 'AWS' for an AWS managed key (its policy, set by the caller, is what keeps it from being administered). */
  keyManager?: 'AWS' | 'CUSTOMER'
}

/** Adds a key record (no authorisation, no validation: callers — CreateKey, the seed — do that). */
export function addKey(state: KmsState, opts: NewKeyOptions): KeyRecord {
  const keyId = opts.keyId ?? randomUUID()
  const now = opts.now ?? Date.now()
  const origin = opts.origin ?? 'AWS_KMS'
  const key: KeyRecord = {
    keyId,
    arn: keyArn(opts.region, opts.accountId, keyId),
    accountId: opts.accountId,
    region: opts.region,
    creationDate: now,
    description: opts.description ?? '',
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    origin,
    ...(opts.keyManager === 'AWS' ? { keyManager: 'AWS' as const } : {}),
    state: origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled',
    policy: opts.policy ?? defaultKeyPolicy(opts.accountId),
    tags: opts.tags ? opts.tags.map((t) => ({ ...t })) : [],
    materials: origin === 'EXTERNAL' ? [] : [{ version: 0, id: newMaterialId(), material: newKeyMaterial().toString('base64'), createdAt: now }],
    rotationEnabled: false,
    rotations: [],
  }
  state.keys[keyId] = key
  return key
}

export function newMaterialId(): string {
  return randomBytes(32).toString('hex')
}

/** A material's KeyMaterialId; materials stored before ids existed get a stable one from key and version. */
export function materialId(key: KeyRecord, m: KeyMaterialRecord): string {
  return m.id ?? hash('sha256', `${key.keyId}/${m.version}`, 'hex')
}

/** The material that is current (the newest not waiting for rotation), with or without its bytes. */
export function currentMaterialRecord(key: KeyRecord): KeyMaterialRecord | undefined {
  for (let i = key.materials.length - 1; i >= 0; i--) if (!key.materials[i].pendingRotation) return key.materials[i]
  return undefined
}

/** The material that encrypts now, or undefined (imported key without material). */
export function currentMaterial(key: KeyRecord): KeyMaterialRecord | undefined {
  const current = currentMaterialRecord(key)
  return current?.material ? current : undefined
}

/** The imported material waiting for RotateKeyOnDemand, if any. */
export function pendingMaterial(key: KeyRecord): KeyMaterialRecord | undefined {
  return key.materials.find((m) => m.pendingRotation)
}

/** Rotation makes new material current (imported keys: the pending import); old material stays for decrypting old ciphertexts. */
export function rotateMaterial(key: KeyRecord, type: RotationRecord['type'], now: number): void {
  const pending = pendingMaterial(key)
  // A pending import is always the newest record, so clearing its flag makes it current.
  if (pending) delete pending.pendingRotation
  else {
    key.materials.push({ version: key.materials.length, id: newMaterialId(), material: newKeyMaterial().toString('base64'), createdAt: now })
  }
  key.rotations.push({ date: now, type })
}

export function scheduleNextRotation(key: KeyRecord, from: number): void {
  key.nextRotationDate = from + (key.rotationPeriodInDays ?? 365) * DAY_MS
}

/**
 * Applies what time does on its own, lazily, when a key is looked at: deletion after the
 * waiting period, expiry of imported material, automatic rotation. Returns true when the key
 * changed (and false-y state needs saving), 'deleted' when it is gone.
 */
export function applyTime(state: KmsState, key: KeyRecord, now: number): boolean | 'deleted' {
  if (key.state === 'PendingDeletion' && key.deletionDate !== undefined && now >= key.deletionDate) {
    delete state.keys[key.keyId]
    for (const [slot, alias] of Object.entries(state.aliases)) if (alias.targetKeyId === key.keyId) delete state.aliases[slot]
    // A deleted key's grants go with it.
    for (const [id, grant] of Object.entries(state.grants ?? {})) if (grant.keyId === key.keyId) delete state.grants[id]
    return 'deleted'
  }
  let changed = false
  if (key.origin === 'EXTERNAL' && key.validTo !== undefined && now >= key.validTo && key.state !== 'PendingImport' && key.state !== 'PendingDeletion') {
    for (const m of key.materials) delete m.material
    key.state = 'PendingImport'
    key.validTo = undefined
    key.expirationModel = undefined
    changed = true
  }
  if (key.rotationEnabled && key.state === 'Enabled' && key.nextRotationDate !== undefined) {
    // Catch up on every period that elapsed while nobody looked.
    while (now >= key.nextRotationDate) {
      rotateMaterial(key, 'AUTOMATIC', key.nextRotationDate)
      scheduleNextRotation(key, key.nextRotationDate)
      changed = true
    }
  }
  return changed
}

/**
 * The predefined aliases every account lists (without a target until first use) for services that
 * make AWS managed keys. https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html
 */
export const PREDEFINED_ALIASES: readonly string[] = [
  'alias/aws/acm', 'alias/aws/dynamodb', 'alias/aws/ebs', 'alias/aws/elasticfilesystem', 'alias/aws/es', 'alias/aws/glue',
  'alias/aws/kinesisvideo', 'alias/aws/lambda', 'alias/aws/rds', 'alias/aws/redshift', 'alias/aws/s3', 'alias/aws/secretsmanager',
  'alias/aws/ssm', 'alias/aws/xray',
]

const MANAGED_DESCRIPTIONS: Record<string, string> = {
  s3: 'Default key that protects my S3 objects when no other key is defined',
  ebs: 'Default key that protects my EBS volumes when no other key is defined',
  rds: 'Default key that protects my RDS database volumes when no other key is defined',
}

/** The key policy AWS gives an AWS managed key: use only through its service by the account, metadata to the account. */
export function managedKeyPolicy(accountId: string, region: string, service = 's3'): string {
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Id: `auto-${service}-2`,
      Statement: [
        {
          Sid: `Allow access through ${service === 's3' ? 'S3' : service} for all principals in the account that are authorized to use ${service === 's3' ? 'S3' : service}`,
          Effect: 'Allow',
          Principal: { AWS: '*' },
          Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
          Resource: '*',
          Condition: { StringEquals: { 'kms:CallerAccount': accountId, 'kms:ViaService': `${service}.${region}.amazonaws.com` } },
        },
        {
          Sid: 'Allow direct access to key metadata to the account',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${accountId}:root` },
          Action: ['kms:Describe*', 'kms:Get*', 'kms:List*'],
          Resource: '*',
        },
      ],
    },
    null,
    2,
  )
}

/**
 * The AWS managed key behind a predefined alias, created on first use as AWS does (a service's first
 * call, or DescribeKey of the alias). Undefined for names that are not predefined. Rotates yearly.
 */
export function managedKeyFor(state: KmsState, region: string, accountId: string, aliasName: string, now: number): KeyRecord | undefined {
  const slot = aliasSlot(region, aliasName)
  const existing = Object.hasOwn(state.aliases, slot) ? state.aliases[slot] : undefined
  if (existing) return state.keys[existing.targetKeyId]
  if (!PREDEFINED_ALIASES.includes(aliasName)) return undefined
  const service = aliasName.slice('alias/aws/'.length)
  const key = addKey(state, {
    accountId,
    region,
    description: MANAGED_DESCRIPTIONS[service] ?? `Default key that protects my ${service} data when no other key is defined`,
    policy: managedKeyPolicy(accountId, region, service),
    keyManager: 'AWS',
    now,
  })
  key.rotationEnabled = true
  key.rotationPeriodInDays = 365
  scheduleNextRotation(key, now)
  state.aliases[slot] = { aliasName, region, accountId, targetKeyId: key.keyId, creationDate: now, lastUpdatedDate: now }
  return key
}
