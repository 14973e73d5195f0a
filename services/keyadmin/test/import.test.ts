// Imported key material through keyadmin (the workshop's part 1 without openssl): an EXTERNAL key in
// PendingImport becomes Enabled, encrypts; after its material is deleted it is PendingImport again and
// refuses to decrypt; only the same material brings it back.
// AWS: https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html,
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-encrypt-key-material.html,
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-delete-key-material.html
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ACCOUNT, aws, profileEnv, scratchDir, startKeyadminInstance, startNetworkLab } from './network-helpers.js'
import { MFA_ENV, nextMfaCode } from './helpers.js'

const lab = await startNetworkLab(t)
// As the stack runs it: its role from instance metadata, the sensitive operations as userA with a code.
const mfaEnv = { AWS_SHARED_CREDENTIALS_FILE: lab.credentialsFile, AWS_CONFIG_FILE: lab.configFile, ...MFA_ENV }
const svc = await startKeyadminInstance(t, lab, mfaEnv)
const withCode = async () => ({ 'x-mfa-code': await nextMfaCode(lab) })
const dir = scratchDir(t)
const workshop = profileEnv(lab, 'workshop', dir)
const plaintextFile = join(dir, 'plaintext.txt')
writeFileSync(plaintextFile, 'SampleFile-KMS\n')

async function externalKey(alias: string): Promise<string> {
  const created = await svc.call('POST', '/keys', { origin: 'EXTERNAL', alias, description: 'imported material test' })
  if (created.status !== 201) throw new Error(JSON.stringify(created.body))
  return created.body.keyId
}
const encrypt = (keyId: string) => aws(['kms', 'encrypt', '--key-id', keyId, '--plaintext', `fileb://${plaintextFile}`], workshop)
async function decrypt(ciphertext: string) {
  const file = join(dir, `blob-${randomBytes(4).toString('hex')}`)
  writeFileSync(file, Buffer.from(ciphertext, 'base64'))
  return aws(['kms', 'decrypt', '--ciphertext-blob', `fileb://${file}`], workshop)
}

t.test('fresh material: PendingImport → Enabled → encrypts → material deleted → PendingImport, decrypt refused', async (t) => {
  const keyId = await externalKey('alias/import-generated')
  t.equal((await svc.call('GET', `/keys/${keyId}`)).body.state, 'PendingImport')
  t.not((await encrypt(keyId)).code, 0, 'no material, no encryption')

  const imported = await svc.call('POST', `/keys/${keyId}/import`, {})
  t.equal(imported.status, 200, JSON.stringify(imported.body))
  t.match(imported.body, {
    keyId, arn: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${keyId}`, state: 'Enabled', origin: 'EXTERNAL', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048', material: 'generated',
  })
  t.match(imported.body.note, /kept no copy/)
  t.notOk('validTo' in imported.body)

  const encrypted = await encrypt(keyId)
  t.equal(encrypted.code, 0, encrypted.stderr)
  const roundTrip = await decrypt(encrypted.json.CiphertextBlob)
  t.equal(roundTrip.code, 0, roundTrip.stderr)
  t.equal(Buffer.from(roundTrip.json.Plaintext, 'base64').toString(), 'SampleFile-KMS\n')

  const deleted = await svc.call('DELETE', `/keys/${keyId}/material`, undefined, 'admin', await withCode())
  t.equal(deleted.status, 200, JSON.stringify(deleted.body))
  t.same(deleted.body, { keyId, state: 'PendingImport' })
  const refused = await decrypt(encrypted.json.CiphertextBlob)
  t.not(refused.code, 0)
  t.match(refused.stderr, /KMSInvalidStateException/)
  t.match(refused.stderr, /pending import/i)
})

t.test('uploaded material: the same material restores the key, other material is refused', async (t) => {
  const keyId = await externalKey('alias/import-uploaded')
  const material = randomBytes(32).toString('base64')
  const first = await svc.call('POST', `/keys/${keyId}/import`, { material })
  t.equal(first.status, 200, JSON.stringify(first.body))
  t.equal(first.body.material, 'uploaded')
  t.notOk(JSON.stringify(first.body).includes(material), 'material never answered')
  const encrypted = await encrypt(keyId)
  t.equal(encrypted.code, 0, encrypted.stderr)

  t.equal((await svc.call('DELETE', `/keys/${keyId}/material`, undefined, 'admin', await withCode())).body.state, 'PendingImport')
  const other = await svc.call('POST', `/keys/${keyId}/import`, { material: randomBytes(32).toString('base64') })
  t.equal(other.status, 400, 'KMS keeps the key bound to its first material')
  t.match(other.body, { code: 'KADM_AWS_REJECTED', awsErrorCode: 'IncorrectKeyMaterialException' })
  t.equal((await svc.call('GET', `/keys/${keyId}`)).body.state, 'PendingImport')

  const again = await svc.call('POST', `/keys/${keyId}/import`, { material, wrappingAlgorithm: 'RSAES_OAEP_SHA_1', wrappingKeySpec: 'RSA_3072' })
  t.equal(again.status, 200, JSON.stringify(again.body))
  t.equal(again.body.state, 'Enabled')
  const restored = await decrypt(encrypted.json.CiphertextBlob)
  t.equal(restored.code, 0, `old ciphertext decrypts again: ${restored.stderr}`)

  const logs = svc.logs.join('')
  t.notOk(logs.includes(material), 'material never logged')
  t.match(logs, '"msg":"key material imported"')
})

t.test('expiration and the other wrapping algorithm', async (t) => {
  const keyId = await externalKey('alias/import-expiring')
  const validTo = new Date(Date.now() + 3 * 24 * 3600_000)
  validTo.setMilliseconds(0)
  const imported = await svc.call('POST', `/keys/${keyId}/import`, { validTo: validTo.toISOString(), wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', wrappingKeySpec: 'RSA_4096' })
  t.equal(imported.status, 200, JSON.stringify(imported.body))
  t.match(imported.body, { state: 'Enabled', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: validTo.toISOString(), wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256' })
  const described = await aws(['kms', 'describe-key', '--key-id', keyId], workshop)
  t.equal(described.json.KeyMetadata.ExpirationModel, 'KEY_MATERIAL_EXPIRES')
  const shown = described.json.KeyMetadata.ValidTo
  // The CLI prints timestamps as epoch seconds or ISO text depending on its cli_timestamp_format.
  t.equal(new Date(typeof shown === 'number' ? shown * 1000 : shown).toISOString(), validTo.toISOString())
  t.equal((await encrypt(keyId)).code, 0)

  const past = await svc.call('POST', `/keys/${await externalKey('alias/import-past')}/import`, { validTo: '2020-01-01T00:00:00Z' })
  t.equal(past.status, 400)
  t.equal(past.body.code, 'KADM_IMPORT_MATERIAL')
  t.match(past.body.detail, /future/)
})

t.test('refusals say what to fix', async (t) => {
  const keyId = await externalKey('alias/import-refusals')
  const notBase64 = await svc.call('POST', `/keys/${keyId}/import`, { material: 'c2hvcnQ=' })
  t.equal(notBase64.status, 400, 'material must be 256 bits')
  t.notOk(JSON.stringify(notBase64.body).includes('c2hvcnQ='), 'the refused value is not echoed')
  const unknownAlgorithm = await svc.call('POST', `/keys/${keyId}/import`, { wrappingAlgorithm: 'RSAES_PKCS1_V1_5' })
  t.equal(unknownAlgorithm.status, 400)
  const kmsKey = await svc.call('POST', '/keys', { description: 'KMS-generated material' })
  const notExternal = await svc.call('POST', `/keys/${kmsKey.body.keyId}/import`, {})
  t.equal(notExternal.status, 400)
  t.match(notExternal.body, { code: 'KADM_UNSUPPORTED_OPERATION', awsErrorCode: 'UnsupportedOperationException' })
  const missing = await svc.call('POST', '/keys/1234abcd-12ab-34cd-56ef-1234567890ab/import', {})
  t.equal(missing.status, 404)
  t.equal(missing.body.code, 'KADM_KEY_NOT_FOUND')
  const reader = await svc.call('POST', `/keys/${keyId}/import`, {}, 'reader')
  t.equal(reader.status, 403)
  t.equal(reader.body.code, 'SHR_MISSING_SCOPE')
  t.equal((await svc.call('GET', `/keys/${keyId}`)).body.state, 'PendingImport', 'nothing imported by refused calls')
})

t.test('with MFA configured, deleting material needs a code and runs as the MFA user', async (t) => {
  const guarded = svc
  const created = await guarded.call('POST', '/keys', { origin: 'EXTERNAL', alias: 'alias/import-mfa' })
  t.equal(created.status, 201, JSON.stringify(created.body))
  const keyId = created.body.keyId
  t.equal((await guarded.call('POST', `/keys/${keyId}/import`, {})).body.state, 'Enabled', 'importing is not MFA-guarded')
  const without = await guarded.call('DELETE', `/keys/${keyId}/material`)
  t.equal(without.status, 403)
  t.equal(without.body.code, 'KADM_MFA_REQUIRED')
  t.equal((await guarded.call('GET', `/keys/${keyId}`)).body.state, 'Enabled')
  const res = await fetch(`${guarded.url}/keys/${keyId}/material`, {
    method: 'DELETE', headers: { authorization: `Bearer ${guarded.tokens.admin}`, ...(await withCode()) }, signal: AbortSignal.timeout(30_000),
  })
  const body = await res.json()
  t.equal(res.status, 200, JSON.stringify(body))
  t.equal(body.state, 'PendingImport')
})
