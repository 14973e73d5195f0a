// The routes behind the keyadmin page's console (issue 25), against the lab as the keyadmin role: the
// access diff of a dry run and check-no-new-access, the key list's filters and description, grants
// listed and retired, the impact report's last use, simulate with an encryption context, and paths
// with an unencoded alias.
import t from 'tap'
import { CreateGrantCommand, DescribeKeyCommand } from '@aws-sdk/client-kms'
import { ACCOUNT, BUCKET, KEY_ALIAS, enc, getAs, kmsAs, putAs, startKeyadmin, startTestLab } from './helpers.js'
import { labDeployment } from '@kms-share/aws-lab/testing'

// AWS's default key policy on the seed key: the lifecycle starts from what a new key gets.
const lab = await startTestLab(t, { defaultKeyPolicy: true })
const svc = await startKeyadmin(t, lab)
const KEY = enc(KEY_ALIAS)
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`
const admin = kmsAs(lab, 'admin')
t.teardown(() => admin.destroy())
const current = async () => (await svc.call('GET', `/keys/${KEY}/policy`)).body.policy as string
/** The current policy with one more statement. */
const withStatement = (policy: string, statement: object) => {
  const doc = JSON.parse(policy)
  return JSON.stringify({ ...doc, Statement: [...doc.Statement, statement] }, null, 2)
}
const sentences = (changes: Array<{ sentence: string }>) => changes.map((c) => c.sentence)

t.test('a dry run of separation-of-duties says who loses and who keeps what, and changes nothing', async (t) => {
  const before = await current()
  const rendered = await svc.call('POST', '/policy-templates/separation-of-duties', {})
  const dry = await svc.call('PUT', `/keys/${KEY}/policy?dryRun=true`, { policy: rendered.body.policy })
  t.equal(dry.status, 200, JSON.stringify(dry.body))
  t.equal(dry.body.applied, false)
  t.equal(dry.body.access.comparedWith, 'current')
  const said = sentences(dry.body.access.changes)
  // The workshop's role and admin decrypted through AWS's default policy (IAM decided); not any more.
  t.ok(said.includes('KMSWorkshop-InstaceInitRole loses kms:Decrypt'), 'the workshop role loses Decrypt')
  t.ok(said.includes('admin loses kms:Encrypt'), 'admin loses Encrypt')
  const downloader = dry.body.access.changes.find((c: any) => c.principal === role('kms-share-downloader') && c.action === 'kms:Decrypt')
  t.match(downloader, {
    name: 'kms-share-downloader', change: 'narrows', newAccess: false, lost: ['always'],
    before: { access: 'always' }, after: { access: 'conditional', conditions: [`only through S3, for ${BUCKET}'s objects`] },
  }, 'the downloader keeps Decrypt, through S3 for the bucket only')
  t.notOk(dry.body.access.changes.some((c: any) => c.principal === role('kms-share-downloader') && c.action === 'kms:GenerateDataKey'), 'unchanged cells are not listed')
  t.equal(await current(), before, 'the dry run changed nothing')
})

t.test('check-no-new-access: PASS for the same or a narrower policy, 409 naming who gains what', async (t) => {
  const policy = await current()
  const same = await svc.call('POST', `/keys/${KEY}/policy/check-no-new-access`, { policy })
  t.equal(same.status, 200)
  t.match(same.body, { result: 'PASS', changes: [], newAccess: [], message: 'No change in who can do what.' })

  const widened = withStatement(policy, { Sid: 'AuditorDecrypts', Effect: 'Allow', Principal: { AWS: role('kms-share-auditor') }, Action: 'kms:Decrypt', Resource: '*' })
  const fail = await svc.call('POST', `/keys/${KEY}/policy/check-no-new-access`, { policy: widened })
  t.equal(fail.status, 409)
  t.equal(fail.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  t.equal(fail.body.code, 'KADM_NEW_ACCESS')
  t.equal(fail.body.result, 'FAIL')
  t.same(sentences(fail.body.newAccess), ['kms-share-auditor gains kms:Decrypt'])
  t.match(fail.body.detail, /kms-share-auditor gains kms:Decrypt/)

  // Compared with a reference (e.g. the main branch's policy) instead of the key's: the reverse is a loss only.
  const back = await svc.call('POST', `/keys/${KEY}/policy/check-no-new-access`, { policy, referencePolicy: widened })
  t.equal(back.status, 200)
  t.equal(back.body.comparedWith, 'reference')
  t.same(sentences(back.body.changes), ['kms-share-auditor loses kms:Decrypt'])

  // A deny that takes Decrypt outside S3 from the downloader: narrower, so it passes.
  const narrowed = withStatement(policy, {
    Sid: 'DownloaderOnlyThroughS3', Effect: 'Deny', Principal: { AWS: role('kms-share-downloader') }, Action: 'kms:Decrypt', Resource: '*',
    Condition: { StringNotEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
  })
  const pass = await svc.call('POST', `/keys/${KEY}/policy/check-no-new-access`, { policy: narrowed })
  t.equal(pass.status, 200)
  t.same(sentences(pass.body.changes), ['kms-share-downloader keeps kms:Decrypt only through S3 (before: always)'])

  const invalid = await svc.call('POST', `/keys/${KEY}/policy/check-no-new-access`, { policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",}]}' })
  t.equal(invalid.status, 422)
  t.equal(invalid.body.findings[0].code, 'JSON_TRAILING_COMMA', 'the syntax error first')
})

t.test('grants count in the diff; listed with their constraint in words; retired', async (t) => {
  const { arn } = (await svc.call('GET', `/keys/${KEY}`)).body
  const grant = await admin.send(new CreateGrantCommand({
    KeyId: arn, GranteePrincipal: role('kms-share-auditor'), RetiringPrincipal: role('kms-share-keyadmin'), Operations: ['Decrypt'],
    Constraints: { EncryptionContextEquals: { purpose: 'audit' } }, Name: 'audit-read',
  }))
  const list = await svc.call('GET', `/keys/${KEY}/grants`)
  t.equal(list.status, 200)
  t.match(list.body.grants, [{ grantId: grant.GrantId, name: 'audit-read', operations: ['Decrypt'], condition: 'when the encryption context equals {"purpose":"audit"}' }])
  t.ok(list.body.grants[0].creationDate, 'with its creation date')

  // An explicit deny wins over the grant: the auditor loses what the grant gave.
  const denied = withStatement(await current(), { Sid: 'NoAuditorUse', Effect: 'Deny', Principal: { AWS: role('kms-share-auditor') }, Action: 'kms:Decrypt', Resource: '*' })
  const dry = await svc.call('PUT', `/keys/${KEY}/policy?dryRun=true`, { policy: denied })
  t.same(sentences(dry.body.access.changes), ['kms-share-auditor loses kms:Decrypt'])

  const retired = await svc.call('POST', `/keys/${KEY}/grants/${grant.GrantId}/retire`)
  t.equal(retired.status, 204)
  t.same((await svc.call('GET', `/keys/${KEY}/grants`)).body.grants, [])
  const again = await svc.call('POST', `/keys/${KEY}/grants/${grant.GrantId}/retire`)
  t.equal(again.status, 404, "AWS's NotFoundException")
  t.equal(again.body.awsErrorCode, 'NotFoundException')
})

t.test('the key list: customer and AWS managed keys apart, searchable; the description editable', async (t) => {
  // S3's AWS managed key exists once something refers to it.
  await admin.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))
  const awsKeys = await svc.call('GET', '/keys?manager=AWS')
  t.equal(awsKeys.status, 200)
  t.ok(awsKeys.body.keys.length > 0 && awsKeys.body.keys.every((k: any) => k.manager === 'AWS'), 'AWS managed keys only')
  t.ok(awsKeys.body.keys.some((k: any) => k.aliases.includes('alias/aws/s3')))
  const customer = await svc.call('GET', '/keys?manager=CUSTOMER')
  t.ok(customer.body.keys.every((k: any) => k.manager === 'CUSTOMER'))
  const imported = customer.body.keys.find((k: any) => k.aliases.includes(KEY_ALIAS))
  t.equal(imported.expirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE', "an EXTERNAL key's material expiry")

  const changed = await svc.call('PATCH', `/keys/${KEY}`, { description: 'The share key (imported material)' })
  t.equal(changed.status, 200)
  t.equal(changed.body.description, 'The share key (imported material)')
  const found = await svc.call('GET', `/keys?q=${enc('SHARE KEY')}`)
  t.same(found.body.keys.map((k: any) => k.keyId), [imported.keyId], 'search is case-insensitive, in descriptions too')
  t.same((await svc.call('GET', '/keys?q=importedcmk')).body.keys.map((k: any) => k.keyId), [imported.keyId], 'and aliases')
  t.equal((await svc.call('GET', '/keys?manager=nobody')).status, 400)
  const tooLong = await svc.call('PATCH', `/keys/${KEY}`, { description: 'x'.repeat(8193) })
  t.equal(tooLong.status, 400)
  const unknownMember = await svc.call('PATCH', `/keys/${KEY}`, { descripton: 'typo' })
  t.equal(unknownMember.status, 400, 'a mistyped member is refused')
})

t.test('simulate takes an encryption context and kms:ViaService', async (t) => {
  const rendered = await svc.call('POST', '/policy-templates/separation-of-duties', {})
  const ask = (extra: object) => svc.call('POST', '/policies/simulate', { policy: rendered.body.policy, principal: role('kms-share-downloader'), action: 'kms:Decrypt', ...extra })
  const viaS3 = { context: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } }
  const allowed = await ask({ ...viaS3, encryptionContext: { 'aws:s3:arn': `arn:aws:s3:::${BUCKET}/report.csv` } })
  t.equal(allowed.body.decision, 'Allowed', JSON.stringify(allowed.body.explanation))
  t.same(allowed.body.context['kms:EncryptionContextKeys'], ['aws:s3:arn'])
  t.equal(allowed.body.context[`kms:EncryptionContext:aws:s3:arn`], `arn:aws:s3:::${BUCKET}/report.csv`)
  t.not((await ask({ ...viaS3, encryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::another-bucket/x' } })).body.decision, 'Allowed', "another bucket's object")
  t.not((await ask({ encryptionContext: { 'aws:s3:arn': `arn:aws:s3:::${BUCKET}/report.csv` } })).body.decision, 'Allowed', 'not through S3')
})

t.test('the impact report names the last use in CloudTrail', async (t) => {
  await putAs(lab, 'uploader', 'impact.txt', 'impact', labDeployment(lab).keyArn)
  t.equal(await getAs(lab, 'downloader', 'impact.txt'), 'impact')
  const impact = await svc.call('GET', `/keys/${KEY}/impact`)
  t.equal(impact.status, 200, JSON.stringify(impact.body))
  t.match(impact.body.lastUse, { eventName: 'Decrypt', name: 'kms-share-downloader', invokedBy: 'fas.s3.amazonaws.com' })
  t.match(impact.body.objects, { known: false, note: /REDIS_URL/ }, 'without the audit results, the count is unknown and says why')
  t.match(impact.body.sentences.delete, /^Deleting this key makes every object under it in kmsworkshop-111122223333 unreadable, for good — how many is not known .*; last Decrypt (just now|\d+ seconds? ago) by kms-share-downloader through S3\.$/)
  t.same(impact.body.aliases, [KEY_ALIAS])
  const objects = await svc.call('GET', `/keys/${KEY}/objects`)
  t.equal(objects.status, 503)
  t.equal(objects.body.code, 'KADM_AUDIT_NOT_CONFIGURED')
})

t.test('an alias not URL-encoded in a path: a 404 that gives the encoded path', async (t) => {
  for (const [path, encoded] of [
    ['/keys/alias/ImportedCMK/policy', '/keys/alias%2FImportedCMK/policy'],
    ['/keys/alias/ImportedCMK', '/keys/alias%2FImportedCMK'],
    ['/keys/alias/team/share/access', '/keys/alias%2Fteam%2Fshare/access'],
    ['/keys/alias/ImportedCMK/grants/abc123/retire', '/keys/alias%2FImportedCMK/grants/abc123/retire'],
    ['/aliases/alias/ImportedCMK', '/aliases/alias%2FImportedCMK'],
  ]) {
    const res = await svc.call('GET', path)
    t.equal(res.status, 404, path)
    t.equal(res.body.code, 'KADM_NOT_URL_ENCODED', path)
    t.equal(res.body.suggestedPath, encoded, path)
    t.match(res.body.detail, `use ${encoded}`)
  }
  const other = await svc.call('GET', '/keys/nothing/here/at/all')
  t.equal(other.body.code, 'SHR_NOT_FOUND', 'other unknown paths stay a plain 404')
})
