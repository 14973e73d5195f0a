// KMS cryptographic operations through the real lab with @aws-sdk/client-kms and AWS CLI v2:
// encryption context binding, ReEncrypt, data keys, random bytes, and rotation that keeps old
// ciphertexts decryptable. A fresh key per test.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DisableKeyRotationCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
} from '@aws-sdk/client-kms'
import t from 'tap'
import { startLab } from '../src/app.js'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const run = promisify(execFile)
const lab = await startTestLab(t, { ...WITHOUT_STACKS, defaultKeyPolicy: true })
const kms = new KMSClient({ endpoint: lab.endpoint, region: lab.region, credentials: lab.profiles().admin, maxAttempts: 1 })

async function newKey() {
  return (await kms.send(new CreateKeyCommand({}))).KeyMetadata!
}
const text = (b: Uint8Array | undefined) => Buffer.from(b!).toString('utf8')

t.test('Encrypt/Decrypt round-trip; the blob names its key, so Decrypt needs no KeyId', async (t) => {
  const md = await newKey()
  const context = { 'aws:s3:arn': 'arn:aws:s3:::kmsworkshop-111122223333/report.pdf' }
  const enc = await kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('secret report'), EncryptionContext: context }))
  t.equal(enc.KeyId, md.Arn)
  t.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT')
  t.notOk(Buffer.from(enc.CiphertextBlob!).includes(Buffer.from('secret report')), 'ciphertext does not contain the plaintext')
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }))
  t.equal(text(dec.Plaintext), 'secret report')
  t.equal(dec.KeyId, md.Arn)
  const again = await kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('secret report'), EncryptionContext: context }))
  t.not(Buffer.from(again.CiphertextBlob!).toString('hex'), Buffer.from(enc.CiphertextBlob!).toString('hex'), 'fresh IV each time')
})

t.test('the encryption context is bound: another, a missing or an extra pair is InvalidCiphertextException', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html
  const md = await newKey()
  const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x'), EncryptionContext: { dept: 'finance' } }))
  for (const EncryptionContext of <Array<Record<string, string> | undefined>>[{ dept: 'sales' }, undefined, { dept: 'finance', extra: '1' }, { Dept: 'finance' }]) {
    const err = await kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext })).catch((e) => e)
    t.equal(err.name, 'InvalidCiphertextException', JSON.stringify(EncryptionContext ?? null))
    t.equal(err.$metadata?.httpStatusCode, 400)
  }
  const tampered = Buffer.from(CiphertextBlob!)
  tampered[tampered.length - 20] ^= 1
  await t.rejects(kms.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: { dept: 'finance' } })), { name: 'InvalidCiphertextException' })
  await t.rejects(kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from('not a kms blob at all, really not') })), { name: 'InvalidCiphertextException' })
})

t.test('Decrypt with a KeyId that is not the blob\'s key is IncorrectKeyException; the right alias is fine', async (t) => {
  const md = await newKey()
  const other = await newKey()
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/data-right', TargetKeyId: md.KeyId }))
  const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: 'alias/data-right', Plaintext: Buffer.from('x') }))
  await t.rejects(kms.send(new DecryptCommand({ CiphertextBlob, KeyId: other.KeyId })), {
    name: 'IncorrectKeyException',
    message: 'The key ID in the request does not identify a CMK that can perform this operation.',
  })
  t.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob, KeyId: 'alias/data-right' }))).Plaintext), 'x')
})

t.test('Encrypt takes at most 4096 bytes', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html#API_Encrypt_RequestSyntax
  const md = await newKey()
  t.ok(await kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.alloc(4096, 1) })))
  await t.rejects(kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.alloc(4097, 1) })), { name: 'ValidationException' })
})

t.test('ReEncrypt moves a ciphertext to another key and context without exposing plaintext', async (t) => {
  const from = await newKey()
  const to = await newKey()
  const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: from.KeyId, Plaintext: Buffer.from('moving'), EncryptionContext: { stage: 'one' } }))
  await t.rejects(kms.send(new ReEncryptCommand({ CiphertextBlob, SourceEncryptionContext: { stage: 'wrong' }, DestinationKeyId: to.KeyId })), { name: 'InvalidCiphertextException' })
  const re = await kms.send(new ReEncryptCommand({ CiphertextBlob, SourceEncryptionContext: { stage: 'one' }, DestinationKeyId: to.Arn, DestinationEncryptionContext: { stage: 'two' } }))
  t.match(re, { SourceKeyId: from.Arn, KeyId: to.Arn, SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT', DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })
  t.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { stage: 'two' } }))).Plaintext), 'moving')
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { stage: 'two' } }))
  t.equal(dec.KeyId, to.Arn, 'the new blob names the destination key')
})

t.test('GenerateDataKey: AES_256, AES_128, NumberOfBytes; the encrypted copy decrypts to the plaintext copy', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
  const md = await newKey()
  const context = { 'aws:s3:arn': 'arn:aws:s3:::b/k' }
  const k256 = await kms.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256', EncryptionContext: context }))
  t.equal(k256.Plaintext!.length, 32)
  t.equal(k256.KeyId, md.Arn)
  const back = await kms.send(new DecryptCommand({ CiphertextBlob: k256.CiphertextBlob, EncryptionContext: context }))
  t.same(Buffer.from(back.Plaintext!), Buffer.from(k256.Plaintext!))
  t.equal((await kms.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_128' }))).Plaintext!.length, 16)
  t.equal((await kms.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, NumberOfBytes: 1024 }))).Plaintext!.length, 1024)
  await t.rejects(kms.send(new GenerateDataKeyCommand({ KeyId: md.KeyId })), { name: 'ValidationException' }, 'neither spec nor length')
  await t.rejects(kms.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, NumberOfBytes: 1025 })), { name: 'ValidationException' })
  await t.rejects(kms.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, NumberOfBytes: 16, KeySpec: 'AES_128' })), { name: 'ValidationException' }, 'both')
  const bare = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: md.KeyId, KeySpec: 'AES_256', EncryptionContext: context }))
  t.notOk((bare as any).Plaintext, 'no plaintext copy')
  t.equal((await kms.send(new DecryptCommand({ CiphertextBlob: bare.CiphertextBlob, EncryptionContext: context }))).Plaintext!.length, 32)
})

t.test('GenerateRandom: 1–1024 bytes', async (t) => {
  const a = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 64 }))
  const b = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 64 }))
  t.equal(a.Plaintext!.length, 64)
  t.not(Buffer.from(a.Plaintext!).toString('hex'), Buffer.from(b.Plaintext!).toString('hex'))
  await t.rejects(kms.send(new GenerateRandomCommand({ NumberOfBytes: 0 })), { name: 'ValidationException' })
  await t.rejects(kms.send(new GenerateRandomCommand({ NumberOfBytes: 1025 })), { name: 'ValidationException' })
})

t.test('rotation makes new key material and keeps the old for decryption', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
  const md = await newKey()
  t.match(await kms.send(new GetKeyRotationStatusCommand({ KeyId: md.KeyId })), { KeyRotationEnabled: false })
  await t.rejects(kms.send(new EnableKeyRotationCommand({ KeyId: md.KeyId, RotationPeriodInDays: 89 })), { name: 'ValidationException' })
  await kms.send(new EnableKeyRotationCommand({ KeyId: md.KeyId, RotationPeriodInDays: 180 }))
  const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: md.KeyId }))
  t.match(status, { KeyRotationEnabled: true, RotationPeriodInDays: 180, KeyId: md.Arn })
  const days = (status.NextRotationDate!.getTime() - Date.now()) / 86_400_000
  t.ok(days > 179.9 && days < 180.1, 'next rotation in 180 days')

  const before = await kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('before') }))
  t.match(await kms.send(new RotateKeyOnDemandCommand({ KeyId: md.KeyId })), { KeyId: md.KeyId })
  const after = await kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('after') }))
  // Byte 3+36 is the key-material version in the lab's blob header (see test/vectors/kms-crypto-vectors.json).
  const version = (blob: Uint8Array) => Buffer.from(blob).readUInt32BE(3 + Buffer.from(blob).readUInt16BE(1))
  t.equal(version(before.CiphertextBlob!), 0)
  t.equal(version(after.CiphertextBlob!), 1, 'new material encrypts after rotation')
  t.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: before.CiphertextBlob }))).Plaintext), 'before', 'old ciphertext still decrypts')
  t.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: after.CiphertextBlob }))).Plaintext), 'after')
  const { Rotations } = await kms.send(new ListKeyRotationsCommand({ KeyId: md.KeyId }))
  t.equal(Rotations!.length, 1)
  t.match(Rotations![0], { KeyId: md.KeyId, RotationType: 'ON_DEMAND' })
  await kms.send(new DisableKeyRotationCommand({ KeyId: md.KeyId }))
  t.match(await kms.send(new GetKeyRotationStatusCommand({ KeyId: md.KeyId })), { KeyRotationEnabled: false })
})

t.test('AWS CLI v2: encrypt and decrypt through the lab credentials file', async (t) => {
  const md = await newKey()
  const env = { ...lab.cliEnv(), AWS_PROFILE: 'admin', AWS_ENDPOINT_URL: lab.endpoint }
  const aws = async (...args: string[]) => run('/usr/bin/aws', [...args, '--endpoint-url', lab.endpoint, '--output', 'json'], { env })
  const enc = JSON.parse((await aws('kms', 'encrypt', '--key-id', md.KeyId!, '--plaintext', Buffer.from('from the cli').toString('base64'), '--encryption-context', 'purpose=cli-test')).stdout)
  t.equal(enc.KeyId, md.Arn)
  const dec = JSON.parse((await aws('kms', 'decrypt', '--ciphertext-blob', enc.CiphertextBlob, '--encryption-context', 'purpose=cli-test')).stdout)
  t.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'from the cli')
  const failed = await aws('kms', 'decrypt', '--ciphertext-blob', enc.CiphertextBlob, '--encryption-context', 'purpose=other').catch((e) => e)
  t.match(failed.stderr, /InvalidCiphertextException/, 'another context fails in the CLI too')

  const { Aliases } = JSON.parse((await aws('kms', 'list-aliases')).stdout)
  const imported = Aliases.find((a: any) => a.AliasName === 'alias/ImportedCMK')
  t.match(imported, { AliasArn: `arn:aws:kms:${lab.region}:${lab.accountId}:alias/ImportedCMK`, TargetKeyId: /^[0-9a-f-]{36}$/ })
  t.same(JSON.parse((await aws('kms', 'list-key-policies', '--key-id', imported.TargetKeyId)).stdout).PolicyNames, ['default'])
  const { Policy } = JSON.parse((await aws('kms', 'get-key-policy', '--key-id', imported.TargetKeyId, '--policy-name', 'default')).stdout)
  t.match(Policy, `"AWS" : "arn:aws:iam::${lab.accountId}:root"`, 'the default key policy')
})

t.test('keys, rotated material and aliases survive a lab restart', async (t) => {
  const dataDir = t.testdir()
  const first = await startLab({ dataDir, seedFile: WITHOUT_STACKS.seedFile, port: 0, quiet: true })
  const before = new KMSClient({ endpoint: first.endpoint, region: first.region, credentials: first.profiles().admin, maxAttempts: 1 })
  const md = (await before.send(new CreateKeyCommand({}))).KeyMetadata!
  await before.send(new CreateAliasCommand({ AliasName: 'alias/restart', TargetKeyId: md.KeyId }))
  const old = await before.send(new EncryptCommand({ KeyId: 'alias/restart', Plaintext: Buffer.from('old material'), EncryptionContext: { k: 'v' } }))
  await before.send(new RotateKeyOnDemandCommand({ KeyId: md.KeyId }))
  const fresh = await before.send(new EncryptCommand({ KeyId: 'alias/restart', Plaintext: Buffer.from('new material') }))
  await first.close()

  const second = await startLab({ dataDir, seedFile: WITHOUT_STACKS.seedFile, port: 0, quiet: true })
  t.teardown(() => second.close())
  const after = new KMSClient({ endpoint: second.endpoint, region: second.region, credentials: second.profiles().admin, maxAttempts: 1 })
  t.equal(text((await after.send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob, EncryptionContext: { k: 'v' } }))).Plaintext), 'old material')
  t.equal(text((await after.send(new DecryptCommand({ CiphertextBlob: fresh.CiphertextBlob, KeyId: 'alias/restart' }))).Plaintext), 'new material')
})
