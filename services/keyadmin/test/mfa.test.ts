// MFA-guarded operations: with KEYADMIN_MFA_PROFILE/SERIAL set, the sensitive operations (PutKeyPolicy,
// ScheduleKeyDeletion, DisableKey, DeleteImportedKeyMaterial, DeleteAlias, UpdateAlias, CreateGrant) need
// X-MFA-Code, exchanged through STS GetSessionToken
// as the device's user (AWS gives MFA sessions only to IAM users:
// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html). With mfa-sensitive
// in force, KMS itself refuses the same operation without MFA, and the 403 says so.
import t from 'tap'
import { ACCOUNT, enc, mfaCode, nextMfaCode, startKeyadmin, startTestLab } from './helpers.js'

const lab = await startTestLab(t)
const SERIAL = `arn:aws:iam::${ACCOUNT}:mfa/userA`
const guarded = await startKeyadmin(t, lab, { KEYADMIN_MFA_PROFILE: 'userA', KEYADMIN_MFA_SERIAL: SERIAL })
const plain = await startKeyadmin(t, lab, {}, 'keyadmin', { mfa: false })
// Each code works once, as in AWS: a sensitive operation after another one waits for the next 30-second window.
const code = async () => ({ 'x-mfa-code': await nextMfaCode(lab) })

t.test('config: both MFA variables or neither', async (t) => {
  const { loadConfig } = await import('../src/config.js')
  t.throws(() => loadConfig({ BUCKET: 'bucket', KEYADMIN_MFA_PROFILE: 'userA' }), /KEYADMIN_MFA_PROFILE and KEYADMIN_MFA_SERIAL/)
})

t.test('templates name the MFA user as administrator and MFA principal', async (t) => {
  const list = await guarded.call('GET', '/policy-templates')
  const mfa = list.body.templates.find((x: any) => x.name === 'mfa-sensitive')
  t.same(mfa.parameters.find((p: any) => p.name === 'mfaPrincipals').default, [`arn:aws:iam::${ACCOUNT}:user/userA`])
})

t.test('mfa-sensitive applied with a fresh code; then KMS enforces it', async (t) => {
  const key = (await guarded.call('POST', '/keys', { description: 'mfa test', alias: 'alias/mfa-test' })).body
  const rendered = await guarded.call('POST', '/policy-templates/mfa-sensitive', {})
  t.equal(rendered.status, 200)
  t.match(rendered.body.policy, /"aws:MultiFactorAuthAge"/)

  const without = await guarded.call('PUT', `/keys/${key.keyId}/policy`, { policy: rendered.body.policy })
  t.equal(without.status, 403)
  t.equal(without.body.code, 'KADM_MFA_REQUIRED')
  t.match(without.body.detail, /kms:PutKeyPolicy needs a fresh MFA code in X-MFA-Code/)

  const wrong = await guarded.call('PUT', `/keys/${key.keyId}/policy`, { policy: rendered.body.policy }, { 'x-mfa-code': mfaCode(lab, 'userA', 20) })
  t.equal(wrong.status, 403)
  t.equal(wrong.body.code, 'KADM_MFA_INVALID')
  t.match(wrong.body.detail, /MultiFactorAuthentication failed/)
  const malformed = await guarded.call('PUT', `/keys/${key.keyId}/policy`, { policy: rendered.body.policy }, { 'x-mfa-code': 'abc' })
  t.equal(malformed.body.code, 'KADM_MFA_INVALID')

  // Without MFA configured, keyadmin's own role could not put this policy again: refused before AWS.
  const lockout = await plain.call('PUT', `/keys/${key.keyId}/policy`, { policy: rendered.body.policy })
  t.equal(lockout.status, 409)
  t.equal(lockout.body.code, 'KADM_POLICY_LOCKOUT')

  const applied = await guarded.call('PUT', `/keys/${key.keyId}/policy`, { policy: rendered.body.policy }, await code())
  t.equal(applied.status, 200, JSON.stringify(applied.body))
  t.equal(applied.body.lockout.principal, `arn:aws:iam::${ACCOUNT}:user/userA`)
  t.equal(applied.body.lockout.mfa, true)
  t.ok(guarded.logs.some((l) => l.msg === 'sensitive operation with an MFA session' && l.action === 'kms:PutKeyPolicy'))

  // KMS refuses the role without MFA, and the problem names the action and the explicit deny.
  const denied = await plain.call('POST', `/keys/${key.keyId}/deletion`, { pendingWindowInDays: 7 })
  t.equal(denied.status, 403)
  t.equal(denied.body.code, 'SHR_AWS_ACCESS_DENIED')
  t.equal(denied.body.action, 'kms:ScheduleKeyDeletion')
  t.match(denied.body.detail, /kms-share-keyadmin.*kms:ScheduleKeyDeletion.*explicit deny in a resource-based policy/)
  const aliasDenied = await plain.call('DELETE', `/aliases/${enc('alias/mfa-test')}`)
  t.equal(aliasDenied.status, 403)
  t.equal(aliasDenied.body.action, 'kms:DeleteAlias')

  // With a fresh code the user schedules deletion; cancelling is not guarded.
  const scheduled = await guarded.call('POST', `/keys/${key.keyId}/deletion`, { pendingWindowInDays: 7 }, await code())
  t.equal(scheduled.status, 200, JSON.stringify(scheduled.body))
  t.equal(scheduled.body.state, 'PendingDeletion')
  const cancelled = await guarded.call('DELETE', `/keys/${key.keyId}/deletion`)
  t.equal(cancelled.body.state, 'Disabled')
  const noCode = await guarded.call('POST', `/keys/${key.keyId}/deletion`, { pendingWindowInDays: 7 })
  t.equal(noCode.body.code, 'KADM_MFA_REQUIRED')
  t.equal((await guarded.call('DELETE', `/aliases/${enc('alias/mfa-test')}`, undefined, await code())).status, 204)
})

t.test('DeleteImportedKeyMaterial with a code: the key waits for new material', async (t) => {
  const none = await guarded.call('DELETE', `/keys/${enc('alias/ImportedCMK')}/material`)
  t.equal(none.body.code, 'KADM_MFA_REQUIRED')
  const res = await guarded.call('DELETE', `/keys/${enc('alias/ImportedCMK')}/material`, undefined, await code())
  t.equal(res.status, 200, JSON.stringify(res.body))
  t.equal(res.body.state, 'PendingImport')
})
