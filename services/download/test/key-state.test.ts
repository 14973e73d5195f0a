// Issue 22, row 4: a key that can no longer decrypt — disabled, pending deletion, pending import —
// ends cache hits and removes the cached plaintext (entry, memory copy and file), as a 403 does.
// Through S3, KMS's key-state errors come back as KMS.DisabledException / KMS.KMSInvalidStateException.
// https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-delete-key-material.html (PendingImport)
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import {
  CancelKeyDeletionCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand, KMSClient, ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms'
import { fromIni } from '@aws-sdk/credential-providers'
import { awsEnv, filePath, KEY_ALIAS, putObject, s3As, scratchDir, startDownload, startTestLab, eventually } from './helpers.js'

const lab = await startTestLab(t)
const env = awsEnv(lab, 'admin')
const kms = new KMSClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL, credentials: fromIni({ profile: 'admin', filepath: env.AWS_SHARED_CREDENTIALS_FILE, configFilepath: env.AWS_CONFIG_FILE }) })
t.teardown(() => kms.destroy())
const keyId = (await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }))).KeyMetadata!.KeyId!
const cacheDir = scratchDir(t)
const service = await startDownload(t, lab, 'downloader', { CACHE_DIR: cacheDir, CACHE_SWEEP_INTERVAL: '0', LOG_LEVEL: 'silent' })
const { cache } = service.app.downloader

async function cached(key: string, body: string): Promise<{ file: string }> {
  await putObject(s3As(lab, 'admin'), key, body, undefined, false)
  const res = await service.api(filePath(key))
  t.equal(await res.text(), body, `${key} served`)
  const entry = cache.lookup(key)!
  const file = join(cacheDir, entry.name)
  t.ok(existsSync(file), `${key} cached as ${entry.name}`)
  // A hit reads the verified file into memory.
  t.equal(await (await service.api(filePath(key))).text(), body, `${key} served from the cache`)
  await eventually(() => cache.inMemory(entry)?.toString() === body, `${key} held in memory`)
  return { file }
}

async function refusedAndPurged(t: Tap, key: string, file: string, code: string): Promise<void> {
  const entry = cache.lookup(key)!
  const res = await service.api(filePath(key))
  const problem = await res.json() as { code: string; awsErrorCode: string }
  t.equal(res.status, 502, 'the hit is refused')
  t.equal(problem.code, 'SHR_AWS_KMS_KEY_UNAVAILABLE')
  t.equal(problem.awsErrorCode, code)
  t.equal(cache.lookup(key), undefined, 'the entry is gone')
  t.notOk(existsSync(file), 'and its file')
  t.equal(cache.inMemory(entry), undefined, 'and its memory copy')
}
type Tap = Pick<typeof t, 'equal' | 'notOk'>

t.test('disabled: the next hit purges', async (t) => {
  const { file } = await cached('disabled.txt', 'secret under a key about to be disabled')
  await kms.send(new DisableKeyCommand({ KeyId: keyId }))
  t.teardown(() => kms.send(new EnableKeyCommand({ KeyId: keyId })))
  await refusedAndPurged(t, 'disabled.txt', file, 'KMS.DisabledException')
})

t.test('pending deletion: the sweep purges without anyone asking', async (t) => {
  const { file } = await cached('pending-deletion.txt', 'secret under a key scheduled for deletion')
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
  t.teardown(async () => {
    await kms.send(new CancelKeyDeletionCommand({ KeyId: keyId }))
    await kms.send(new EnableKeyCommand({ KeyId: keyId }))
  })
  const swept = await service.app.downloader.sweep()
  t.equal(swept.removed, 1, 'the sweep removed it')
  t.equal(cache.lookup('pending-deletion.txt'), undefined)
  t.notOk(existsSync(file), 'and its file')
  const res = await service.api(filePath('pending-deletion.txt'))
  t.equal(res.status, 502, 'and nothing is served')
  t.equal((await res.json() as { awsErrorCode: string }).awsErrorCode, 'KMS.KMSInvalidStateException')
})

t.test('pending import (its key material deleted): the next hit purges', async (t) => {
  const { file } = await cached('pending-import.txt', 'secret under imported key material about to be deleted')
  await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }))
  t.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'PendingImport')
  await refusedAndPurged(t, 'pending-import.txt', file, 'KMS.KMSInvalidStateException')
})
