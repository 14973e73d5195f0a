// The audit queue's contract: jobs carry references only and are validated; the job id dedups one
// object version (bucket, key, ETag) and avoids ':' (reserved in BullMQ custom ids); every add sets
// attempts, back-off and retention.
import t from 'tap'
import { createHash } from 'node:crypto'
import { AUDIT_QUEUE, auditJobId, auditJobOptions, auditRedisAclFile, auditRedisUrl, parseAuditJob } from '../src/queues.js'

const job = {
  v: 1 as const,
  source: 'upload' as const,
  bucket: 'kmsworkshop-111122223333',
  key: 'a/b:c.txt',
  etag: '"9b2cf535f27731c974343645a3985328"',
  expectedKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  principal: 'arn:aws:sts::111122223333:assumed-role/kms-share-uploader/i-0ab12cd34ef56d002',
  bucketKey: false,
  startedAt: '2026-11-29T20:00:00.000Z',
  uploadedAt: '2026-11-29T20:00:01.000Z',
}

t.test('a well-formed job passes; anything else is refused naming the field', async (t) => {
  t.equal(AUDIT_QUEUE, 'kms-audit')
  t.same(parseAuditJob(job), job)
  t.throws(() => parseAuditJob({ ...job, plaintext: 'secret' }), /additional properties/)
  t.throws(() => parseAuditJob({ ...job, uploadedAt: 'yesterday' }), /uploadedAt/)
  t.throws(() => parseAuditJob({ ...job, expectedKeyArn: 'alias/ImportedCMK' }), /expectedKeyArn/)
  t.throws(() => parseAuditJob({ ...job, v: 2 }), /\/v/)
})

t.test('the job id is stable per object version and free of ":"', async (t) => {
  const id = auditJobId(job.bucket, job.key, job.etag)
  t.match(id, /^obj-[0-9a-f]{40}$/)
  t.equal(auditJobId(job.bucket, job.key, job.etag), id)
  t.not(auditJobId(job.bucket, job.key, '"other"'), id)
  t.not(auditJobId(job.bucket, `${job.key}x`, job.etag), id)
  // No ambiguity between fields: "a\nb" + "c" differs from "a" + "b\nc".
  t.not(auditJobId('b', 'k\nx', 'e'), auditJobId('b', 'k', 'x\ne'))
})

t.test('every add sets attempts, exponential back-off, retention and the id', async (t) => {
  t.same(auditJobOptions(job, { attempts: 8, backoffMs: 15_000 }), {
    jobId: auditJobId(job.bucket, job.key, job.etag),
    attempts: 8,
    backoff: { type: 'exponential', delay: 15_000 },
    removeOnComplete: { age: 86_400, count: 10_000 },
    removeOnFail: { age: 604_800, count: 10_000 },
  })
})

t.test('the audit ACL file: default user off, one user per duty, SHA-256 hashes only', async (t) => {
  const passwords = { producer: 'p'.repeat(24), worker: 'w'.repeat(24), reader: 'r'.repeat(24) }
  const acl = auditRedisAclFile(passwords)
  const lines = acl.trim().split('\n')
  t.equal(lines[0], 'user default off resetkeys -@all')
  t.notOk(lines[1].includes(' ~kms-audit:'), 'the producer has no key pattern on the results')
  t.match(lines[1], new RegExp(`^user kms-audit-producer on #${createHash('sha256').update(passwords.producer).digest('hex')} resetkeys ~bull:kms-audit:\\* resetchannels -@all `))
  t.match(lines[2], /^user kms-audit-worker on #[0-9a-f]{64} resetkeys ~bull:kms-audit:\* ~kms-audit:\* .* -@dangerous /)
  t.match(lines[3], /^user kms-audit-reader on #[0-9a-f]{64} .*-@all \+@read -@dangerous/)
  for (const p of Object.values(passwords)) t.notOk(acl.includes(p), 'no password in the file')
  t.throws(() => auditRedisAclFile({ ...passwords, worker: 'short' }), /16\+ URL-safe characters/)
  t.equal(auditRedisUrl('127.0.0.1:6379', 'reader', 'a/b'), 'redis://kms-audit-reader:a%2Fb@127.0.0.1:6379')
})
