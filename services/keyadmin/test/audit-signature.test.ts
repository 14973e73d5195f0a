// Audit records signed with Ed25519: the worker's private key seals, the public key checks; a
// changed body, a record moved to another object, another key, or no signature at all fails.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { auditSigner, auditVerifier, generateAuditKeys } from '../src/audit/signature.js'

const keys = generateAuditKeys()
const signer = auditSigner(keys.signingKey)
const verifier = auditVerifier(keys.verifyKey)
const record = { bucket: 'b', key: 'k.txt', verdict: 'VERIFIED' }

t.test('what the worker seals, the public key opens — for the same subject only', async (t) => {
  const sealed = signer.seal(record, 'verdict', 'b/k.txt')
  t.same(verifier.open(sealed, 'verdict', 'b/k.txt'), { ok: true, value: record })
  t.match(verifier.open(sealed, 'verdict', 'b/other.txt'), { ok: false, reason: /does not verify/, stored: record }, 'moved to another object')
  t.match(verifier.open(sealed, 'reader', 'b/k.txt'), { ok: false }, 'taken for another kind of record')
  const envelope = JSON.parse(sealed)
  const changed = JSON.stringify({ ...envelope, body: envelope.body.replace('VERIFIED', 'MISMATCH') })
  t.match(verifier.open(changed, 'verdict', 'b/k.txt'), { ok: false, stored: { verdict: 'MISMATCH' } }, 'a changed body')
  t.match(verifier.open(JSON.stringify(record), 'verdict', 'b/k.txt'), { ok: false, reason: /no signature/ }, 'a plain record')
  t.match(verifier.open('not json', 'verdict', 'b/k.txt'), { ok: false, reason: /not JSON/ })
  t.match(auditVerifier(generateAuditKeys().verifyKey).open(sealed, 'verdict', 'b/k.txt'), { ok: false }, "another worker's key")
})

t.test('only Ed25519 keys are taken', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  t.throws(() => auditSigner(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), /must be an Ed25519 private key, got rsa/)
  t.throws(() => auditVerifier(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()), /must be an Ed25519 public key, got rsa/)
  t.throws(() => auditVerifier(keys.signingKey.replace('PRIVATE', 'PUBLIC')), 'a private key is no public key')
})
