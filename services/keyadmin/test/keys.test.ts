// Keys, aliases and the key lifecycle over real HTTP, against a lab with fresh keys, as the keyadmin role.
import t from 'tap'
import { EncryptCommand } from '@aws-sdk/client-kms'
import { enc, failure, kmsAs, startKeyadmin, startTestLab } from './helpers.js'

const lab = await startTestLab(t)
const svc = await startKeyadmin(t, lab)

t.test('health, readiness and OpenAPI', async (t) => {
  t.equal((await svc.call('GET', '/healthz')).status, 200)
  const ready = await svc.call('GET', '/readyz')
  t.equal(ready.status, 200)
  t.same(ready.body.checks, { kms: 'ok' })
  const docs = await svc.call('GET', '/docs/json')
  t.ok(docs.body.paths['/keys/{key}/policy'], 'documented')
})

t.test('GET /keys lists the seed key with its alias, origin and rotation', async (t) => {
  const { status, body } = await svc.call('GET', '/keys')
  t.equal(status, 200)
  const imported = body.keys.find((k: any) => k.aliases.includes('alias/ImportedCMK'))
  t.ok(imported, 'the imported key')
  t.equal(imported.origin, 'EXTERNAL')
  t.equal(imported.manager, 'CUSTOMER')
  t.equal(imported.state, 'Enabled')
  t.same(imported.rotation, { enabled: false, supported: false }, 'KMS does not rotate imported material')
  const one = await svc.call('GET', `/keys/${enc('alias/ImportedCMK')}`)
  t.equal(one.status, 200)
  t.equal(one.body.keyId, imported.keyId)
  t.same(one.body.tags, {})
  const byArn = await svc.call('GET', `/keys/${enc(imported.arn)}`)
  t.equal(byArn.body.keyId, imported.keyId)
  const missing = await svc.call('GET', '/keys/1234abcd-12ab-34cd-56ef-1234567890ab')
  t.equal(missing.status, 404)
  t.equal(missing.body.code, 'KADM_KEY_NOT_FOUND')
  t.equal(missing.body.awsErrorCode, 'NotFoundException')
  t.equal(missing.headers.get('content-type'), 'application/problem+json; charset=utf-8')
})

t.test('create, alias, move, disable, enable, rotate, schedule and cancel deletion', async (t) => {
  const created = await svc.call('POST', '/keys', { description: 'test key', alias: 'alias/keyadmin-test', tags: { Project: 'kms-share' } })
  t.equal(created.status, 201, JSON.stringify(created.body))
  const keyId = created.body.keyId
  t.same(created.body.aliases, ['alias/keyadmin-test'])
  t.same(created.body.tags, { Project: 'kms-share' })
  t.equal(created.body.rotation.supported, true)

  const external = await svc.call('POST', '/keys', { origin: 'EXTERNAL', description: 'for imported material' })
  t.equal(external.status, 201)
  t.equal(external.body.state, 'PendingImport')
  t.equal(external.body.origin, 'EXTERNAL')

  const bad = await svc.call('POST', '/keys', { keySpec: 'RSA_2048' })
  t.equal(bad.status, 400, 'only symmetric keys, unknown members refused')

  const aliases = await svc.call('GET', '/aliases')
  t.ok(aliases.body.aliases.some((a: any) => a.name === 'alias/keyadmin-test' && a.targetKeyId === keyId))
  const second = await svc.call('POST', '/aliases', { name: 'keyadmin-second', key: keyId })
  t.equal(second.status, 201)
  t.equal(second.body.name, 'alias/keyadmin-second')
  const dup = await svc.call('POST', '/aliases', { name: 'alias/keyadmin-second', key: keyId })
  t.equal(dup.status, 409)
  t.equal(dup.body.code, 'KADM_ALREADY_EXISTS')
  // Moving, deleting and disabling are sensitive (MFA_SENSITIVE_ACTIONS): each with a fresh code.
  const moved = await svc.sensitive('PUT', `/aliases/${enc('alias/keyadmin-second')}`, { key: external.body.keyId })
  t.equal(moved.status, 200)
  t.equal(moved.body.targetKeyId, external.body.keyId)
  t.equal((await svc.sensitive('DELETE', '/aliases/keyadmin-second')).status, 204)
  // A missing alias is answered before any code is asked for.
  const gone = await svc.call('DELETE', '/aliases/keyadmin-second')
  t.equal(gone.status, 404)
  t.equal(gone.body.code, 'KADM_ALIAS_NOT_FOUND')

  const disabled = await svc.sensitive('POST', `/keys/${keyId}/disable`)
  t.same(disabled.body, { keyId, state: 'Disabled' })
  // A disabled key refuses use (the workshop role may encrypt; the key's state says no).
  const workshop = kmsAs(lab, 'workshop')
  t.teardown(() => workshop.destroy())
  const refused = await failure(workshop.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })))
  t.equal(refused.name, 'DisabledException')
  t.same((await svc.call('POST', `/keys/${keyId}/enable`)).body, { keyId, state: 'Enabled' })

  const rotation = await svc.call('PUT', `/keys/${keyId}/rotation`, { enabled: true, periodInDays: 180 })
  t.equal(rotation.status, 200)
  t.equal(rotation.body.enabled, true)
  t.equal(rotation.body.periodInDays, 180)
  const tooShort = await svc.call('PUT', `/keys/${keyId}/rotation`, { enabled: true, periodInDays: 30 })
  t.equal(tooShort.status, 400, 'KMS allows 90–2560 days')
  const onDemand = await svc.call('POST', `/keys/${keyId}/rotations`)
  t.equal(onDemand.status, 200)
  t.equal(onDemand.body.rotations.length, 1)
  t.equal(onDemand.body.rotations[0].type, 'ON_DEMAND')
  // Imported keys rotate on demand only to material imported as NEW_KEY_MATERIAL; with none pending, KMS says so.
  // https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-import-key-material.html
  const importedRotation = await svc.call('POST', `/keys/${enc('alias/ImportedCMK')}/rotations`)
  t.equal(importedRotation.status, 409)
  t.equal(importedRotation.body.code, 'KADM_INVALID_KEY_STATE')
  t.match(importedRotation.body.detail, /No available key material pending rotation/)

  const tooSoon = await svc.call('POST', `/keys/${keyId}/deletion`, { pendingWindowInDays: 3 })
  t.equal(tooSoon.status, 400, 'AWS: 7 to 30 days')
  const scheduled = await svc.sensitive('POST', `/keys/${keyId}/deletion`, { pendingWindowInDays: 7 })
  t.equal(scheduled.status, 200)
  t.equal(scheduled.body.state, 'PendingDeletion')
  t.equal(scheduled.body.pendingWindowInDays, 7)
  const whilePending = await svc.call('POST', `/keys/${keyId}/enable`)
  t.equal(whilePending.status, 409)
  t.equal(whilePending.body.code, 'KADM_INVALID_KEY_STATE')
  // https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html: the key comes back Disabled.
  const cancelled = await svc.call('DELETE', `/keys/${keyId}/deletion`)
  t.same(cancelled.body, { keyId, state: 'Disabled' })
})

t.test('keyadmin cannot use keys: AWS refuses and the 403 says so', async (t) => {
  const keyadminKms = kmsAs(lab, 'keyadmin')
  t.teardown(() => keyadminKms.destroy())
  const denied = await failure(keyadminKms.send(new EncryptCommand({ KeyId: 'alias/ImportedCMK', Plaintext: Buffer.from('x') })))
  t.equal(denied.name, 'AccessDeniedException')
  t.match(denied.message, /kms-share-keyadmin.*is not authorized to perform: kms:Encrypt/)
})
