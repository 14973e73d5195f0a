// KMS key lifecycle through the real lab with @aws-sdk/client-kms: create, describe, list,
// aliases, key states per operation, deletion schedule, tags. A fresh key per test.
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  ListAliasesCommand,
  ListKeyPoliciesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
} from '@aws-sdk/client-kms'
import t from 'tap'
import { startTestLab } from './helpers/lab.js'

const lab = await startTestLab(t)
const client = (profile = 'admin') => new KMSClient({ endpoint: lab.endpoint, region: lab.region, credentials: lab.profiles()[profile], maxAttempts: 1 })
const kms = client()
const ACCOUNT = lab.accountId
const REGION = lab.region

async function newKey(input: ConstructorParameters<typeof CreateKeyCommand>[0] = {}) {
  const { KeyMetadata } = await kms.send(new CreateKeyCommand(input))
  return KeyMetadata!
}

t.test('CreateKey: metadata, and the default key policy in the exact text AWS returns', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
  const md = await newKey({ Description: 'kms-share files', Tags: [{ TagKey: 'app', TagValue: 'kms-share' }] })
  t.match(md, {
    AWSAccountId: ACCOUNT,
    Arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${md.KeyId}`,
    Enabled: true,
    Description: 'kms-share files',
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: 'Enabled',
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  })
  t.ok(md.CreationDate instanceof Date && Math.abs(md.CreationDate.getTime() - Date.now()) < 60_000, 'CreationDate is now')
  const { Policy, PolicyName } = await kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'default' }))
  t.equal(PolicyName, 'default')
  t.equal(
    Policy,
    `{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n    "Principal" : {\n      "AWS" : "arn:aws:iam::${ACCOUNT}:root"\n    },\n    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}`,
  )
  t.same((await kms.send(new ListKeyPoliciesCommand({ KeyId: md.KeyId }))).PolicyNames, ['default'])
  t.same((await kms.send(new ListResourceTagsCommand({ KeyId: md.KeyId }))).Tags, [{ TagKey: 'app', TagValue: 'kms-share' }])
  const external = await newKey({ Origin: 'EXTERNAL' })
  t.match(external, { Origin: 'EXTERNAL', KeyState: 'PendingImport', Enabled: false })
})

t.test('CreateKey refuses what the lab does not model, with AWS error codes', async (t) => {
  await t.rejects(kms.send(new CreateKeyCommand({ KeyUsage: 'BOGUS' as any })), { name: 'ValidationException' })
  await t.rejects(kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'aws:reserved', TagValue: 'x' }] })), { name: 'TagException' })
})

t.test('key references: id, key ARN, alias name, alias ARN; wrong region or account is NotFoundException', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id
  const md = await newKey()
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/refs-test', TargetKeyId: md.KeyId }))
  for (const ref of [md.KeyId!, md.Arn!, 'alias/refs-test', `arn:aws:kms:${REGION}:${ACCOUNT}:alias/refs-test`]) {
    t.equal((await kms.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata!.KeyId, md.KeyId, ref)
  }
  // Another Region's ARN (recorded: LocalStack test_kms.py::test_get_key_in_different_region).
  await t.rejects(kms.send(new DescribeKeyCommand({ KeyId: md.Arn!.replace(REGION, 'us-east-1') })), { name: 'NotFoundException', message: 'Invalid arn us-east-1' })
  await t.rejects(kms.send(new DescribeKeyCommand({ KeyId: md.KeyId!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) })), {
    name: 'NotFoundException',
    message: `Key 'arn:aws:kms:${REGION}:${ACCOUNT}:key/${md.KeyId!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))}' does not exist`,
  })
  await t.rejects(kms.send(new DescribeKeyCommand({ KeyId: md.Arn!.replace(ACCOUNT, '444455556666') })), { name: 'NotFoundException' })
  await t.rejects(kms.send(new DescribeKeyCommand({ KeyId: 'alias/does-not-exist' })), {
    name: 'NotFoundException',
    message: `Alias arn:aws:kms:${REGION}:${ACCOUNT}:alias/does-not-exist is not found.`,
  })
  await t.rejects(kms.send(new DescribeKeyCommand({ KeyId: 'not-a-key' })), { name: 'NotFoundException' })
  const err = await kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-0000-0000-000000000000' })).catch((e) => e)
  t.equal(err.$metadata.httpStatusCode, 400, 'KMS errors are 400')
})

t.test('ListKeys pages with Limit and Marker', async (t) => {
  const made = [await newKey(), await newKey(), await newKey()]
  const seen: string[] = []
  let marker: string | undefined
  let pages = 0
  do {
    const out = await kms.send(new ListKeysCommand({ Limit: 2, Marker: marker }))
    t.ok(out.Keys!.length <= 2)
    for (const k of out.Keys!) {
      t.equal(k.KeyArn, `arn:aws:kms:${REGION}:${ACCOUNT}:key/${k.KeyId}`)
      seen.push(k.KeyId!)
    }
    t.equal(Boolean(out.NextMarker), out.Truncated)
    marker = out.NextMarker
    pages++
  } while (marker)
  t.ok(pages >= 2, 'more than one page')
  for (const k of made) t.ok(seen.includes(k.KeyId!), `lists ${k.KeyId}`)
  t.equal(new Set(seen).size, seen.length, 'no key twice')
  await t.rejects(kms.send(new ListKeysCommand({ Marker: 'bogus' })), { name: 'InvalidMarkerException' })
})

t.test('aliases: create, list (filter, paging), update, delete, name rules', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html
  const a = await newKey()
  const b = await newKey()
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/alias-test-1', TargetKeyId: a.KeyId }))
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/alias-test-2', TargetKeyId: a.Arn }))
  const listed = await kms.send(new ListAliasesCommand({ KeyId: a.KeyId }))
  t.same(listed.Aliases!.map((x) => x.AliasName), ['alias/alias-test-1', 'alias/alias-test-2'])
  t.match(listed.Aliases![0], { AliasArn: `arn:aws:kms:${REGION}:${ACCOUNT}:alias/alias-test-1`, TargetKeyId: a.KeyId })
  t.ok(listed.Aliases![0].CreationDate instanceof Date && listed.Aliases![0].LastUpdatedDate instanceof Date)
  const first = await kms.send(new ListAliasesCommand({ Limit: 1 }))
  t.equal(first.Aliases!.length, 1)
  t.ok(first.Truncated && first.NextMarker, 'paged')
  const second = await kms.send(new ListAliasesCommand({ Limit: 1, Marker: first.NextMarker }))
  t.not(second.Aliases![0].AliasName, first.Aliases![0].AliasName)

  await t.rejects(kms.send(new CreateAliasCommand({ AliasName: 'alias/alias-test-1', TargetKeyId: b.KeyId })), {
    name: 'AlreadyExistsException',
    message: `An alias with the name arn:aws:kms:${REGION}:${ACCOUNT}:alias/alias-test-1 already exists`,
  })
  await t.rejects(kms.send(new CreateAliasCommand({ AliasName: 'no-prefix', TargetKeyId: b.KeyId })), { name: 'ValidationException', message: /^Alias must start with the prefix "alias\/"\./ })
  await t.rejects(kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/mine', TargetKeyId: b.KeyId })), { name: 'NotAuthorizedException' })
  await t.rejects(kms.send(new CreateAliasCommand({ AliasName: 'alias/with space', TargetKeyId: b.KeyId })), { name: 'ValidationException' })

  await kms.send(new UpdateAliasCommand({ AliasName: 'alias/alias-test-1', TargetKeyId: b.KeyId }))
  t.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/alias-test-1' }))).KeyMetadata!.KeyId, b.KeyId, 'alias now points at b')
  await kms.send(new DeleteAliasCommand({ AliasName: 'alias/alias-test-1' }))
  await t.rejects(kms.send(new DescribeKeyCommand({ KeyId: 'alias/alias-test-1' })), { name: 'NotFoundException' })
  await t.rejects(kms.send(new DeleteAliasCommand({ AliasName: 'alias/alias-test-1' })), { name: 'NotFoundException' })
})

t.test('Disabled: cryptographic operations get DisabledException, management still works', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
  const md = await newKey()
  const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') }))
  await kms.send(new DisableKeyCommand({ KeyId: md.KeyId }))
  t.match((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata, { KeyState: 'Disabled', Enabled: false })
  const disabled = { name: 'DisabledException', message: `${md.Arn} is disabled.` }
  await t.rejects(kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') })), disabled)
  await t.rejects(kms.send(new DecryptCommand({ CiphertextBlob })), disabled)
  await t.rejects(kms.send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256' })), disabled)
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/disabled-key', TargetKeyId: md.KeyId }))
  await kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'state', TagValue: 'off' }] }))
  await kms.send(new EnableKeyCommand({ KeyId: md.KeyId }))
  t.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob }))).Plaintext!).toString(), 'x', 'works again once enabled')
})

t.test('ScheduleKeyDeletion / CancelKeyDeletion and PendingDeletion per operation', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html
  // https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html (notes [3] and [4])
  const md = await newKey()
  await t.rejects(kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId, PendingWindowInDays: 6 })), {
    name: 'ValidationException',
    message: "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7",
  })
  await t.rejects(kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId, PendingWindowInDays: 31 })), { name: 'ValidationException' })
  const before = Date.now()
  const out = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId }))
  t.match(out, { KeyId: md.Arn, KeyState: 'PendingDeletion', PendingWindowInDays: 30 })
  const days = (out.DeletionDate!.getTime() - before) / 86_400_000
  t.ok(days > 29.99 && days < 30.01, 'default window is 30 days')
  const described = (await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!
  t.match(described, { KeyState: 'PendingDeletion', Enabled: false })
  t.equal(described.DeletionDate?.getTime(), out.DeletionDate!.getTime())

  const pending = { name: 'KMSInvalidStateException', message: `${md.Arn} is pending deletion.` }
  await t.rejects(kms.send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: Buffer.from('x') })), pending)
  await t.rejects(kms.send(new EnableKeyCommand({ KeyId: md.KeyId })), pending)
  await t.rejects(kms.send(new DisableKeyCommand({ KeyId: md.KeyId })), pending)
  await t.rejects(kms.send(new CreateAliasCommand({ AliasName: 'alias/doomed', TargetKeyId: md.KeyId })), pending)
  await t.rejects(kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'a', TagValue: 'b' }] })), pending)
  await t.rejects(kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId })), pending)
  await t.rejects(kms.send(new UpdateKeyDescriptionCommand({ KeyId: md.KeyId, Description: 'x' })), pending)
  t.ok(await kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId })), 'GetKeyPolicy works while pending deletion')

  t.match(await kms.send(new CancelKeyDeletionCommand({ KeyId: md.KeyId })), { KeyId: md.Arn })
  const after = (await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!
  t.match(after, { KeyState: 'Disabled', Enabled: false })
  t.notOk(after.DeletionDate, 'no deletion date once cancelled')
  await t.rejects(kms.send(new CancelKeyDeletionCommand({ KeyId: md.KeyId })), { name: 'KMSInvalidStateException', message: `${md.Arn} is not pending deletion.` })
})

t.test('tags: TagResource overwrites, UntagResource removes, TagException rules', async (t) => {
  // https://docs.aws.amazon.com/kms/latest/APIReference/API_TagResource.html
  const md = await newKey({ Tags: [{ TagKey: 'team', TagValue: 'a' }] })
  await kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'team', TagValue: 'b' }, { TagKey: 'env', TagValue: '' }] }))
  t.same((await kms.send(new ListResourceTagsCommand({ KeyId: md.KeyId }))).Tags, [{ TagKey: 'team', TagValue: 'b' }, { TagKey: 'env', TagValue: '' }])
  await kms.send(new UntagResourceCommand({ KeyId: md.KeyId, TagKeys: ['team'] }))
  t.same((await kms.send(new ListResourceTagsCommand({ KeyId: md.KeyId }))).Tags, [{ TagKey: 'env', TagValue: '' }])
  await t.rejects(kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'aws:x', TagValue: 'y' }] })), { name: 'TagException' })
  await t.rejects(kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'k'.repeat(129), TagValue: 'y' }] })), {
    name: 'ValidationException',
    message: `1 validation error detected: Value '${'k'.repeat(129)}' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128`,
  })
  await t.rejects(kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'd', TagValue: '1' }, { TagKey: 'd', TagValue: '2' }] })), { name: 'TagException' })
})

t.test('UpdateKeyDescription', async (t) => {
  const md = await newKey({ Description: 'old' })
  await kms.send(new UpdateKeyDescriptionCommand({ KeyId: md.KeyId, Description: 'new' }))
  t.equal((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!.Description, 'new')
})

t.test('the seeded workshop key: alias/ImportedCMK with imported material', async (t) => {
  const { Aliases } = await kms.send(new ListAliasesCommand({}))
  const alias = Aliases!.find((a) => a.AliasName === 'alias/ImportedCMK')
  t.ok(alias?.TargetKeyId, 'alias/ImportedCMK has a TargetKeyId')
  t.match((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/ImportedCMK' }))).KeyMetadata, { KeyId: alias?.TargetKeyId, Origin: 'EXTERNAL', KeyState: 'Enabled' })
})
