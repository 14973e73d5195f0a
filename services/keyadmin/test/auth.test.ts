// Authentication: every route but health needs a token; reads and checks need keys:read, changes
// keys:admin. Tokens are configured only as SHA-256 hashes.
import t from 'tap'
import { generateToken, hashToken } from '@kms-share/shared'
import { enc, startKeyadmin, startTestLab } from './helpers.js'

const lab = await startTestLab(t)
const reader = generateToken()
const admin = generateToken()
const svc = await startKeyadmin(t, lab, {
  AUTH_DISABLED: 'false',
  AUTH_TOKENS: `reader:keys:read:${hashToken(reader)},admin:keys:read+keys:admin:${hashToken(admin)}`,
})
const as = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {})

t.test('health is open; everything else needs a token', async (t) => {
  t.equal((await svc.call('GET', '/healthz')).status, 200)
  t.equal((await svc.call('GET', '/readyz')).status, 200)
  const anonymous = await svc.call('GET', '/keys')
  t.equal(anonymous.status, 401)
  t.equal(anonymous.body.code, 'SHR_UNAUTHENTICATED')
  t.equal((await svc.call('GET', '/keys', undefined, as('kms_wrong'))).status, 401)
  t.equal((await svc.call('POST', '/policies/validate', { policy: '{}' })).status, 401)
})

t.test('keys:read reads and checks; changes need keys:admin', async (t) => {
  t.equal((await svc.call('GET', '/keys', undefined, as(reader))).status, 200)
  t.equal((await svc.call('POST', '/policies/validate', { policy: '{}' }, as(reader))).status, 200, 'validating changes nothing')
  t.equal((await svc.call('POST', '/policy-templates/default', {}, as(reader))).status, 200, 'rendering changes nothing')
  const sim = await svc.call('POST', '/policies/simulate', { key: 'alias/ImportedCMK', principal: '111122223333', action: 'kms:DescribeKey' }, as(reader))
  t.equal(sim.status, 200)
  const policy = (await svc.call('GET', `/keys/${enc('alias/ImportedCMK')}/policy`, undefined, as(reader))).body.policy
  const put = await svc.call('PUT', `/keys/${enc('alias/ImportedCMK')}/policy`, { policy }, as(reader))
  t.equal(put.status, 403)
  t.equal(put.body.code, 'SHR_MISSING_SCOPE')
  t.match(put.body.detail, /keys:admin/)
  t.equal((await svc.call('POST', '/keys', {}, as(reader))).status, 403)
  const applied = await svc.sensitive('PUT', `/keys/${enc('alias/ImportedCMK')}/policy`, { policy }, as(admin))
  t.equal(applied.status, 200, JSON.stringify(applied.body))
  t.equal((await svc.call('POST', '/keys', {}, as(admin))).status, 201)
})

t.test('AWS denials reach authenticated callers with their sentence', async (t) => {
  // Key policies that keyadmin's role may not read: another principal's? Use a failing DescribeKey on a bad ARN instead.
  const res = await svc.call('GET', `/keys/${enc('arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000')}`, undefined, as(reader))
  t.equal(res.status, 404)
  t.match(res.body.detail, /AWS:/, "AWS's message is shown to an authenticated caller")
})
