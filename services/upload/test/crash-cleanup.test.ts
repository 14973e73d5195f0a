// Clean after a crash: the service runs as a child process (src/server.ts), is killed with
// SIGKILL in the middle of a form upload's multipart upload, and on restart aborts the upload it
// left behind — only its own role's, only past MULTIPART_ABANDONED_AFTER_MS.
// ListMultipartUploads and its Initiator: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3'
import type { Lab } from '@kms-share/aws-lab'
import { BUCKET, authorizedFetch, clientsAs, labEnv, openRequest, startTestLab, eventually } from './helpers.js'
import { labDeployment } from '@kms-share/aws-lab/testing'
import { initiatorMatcher } from '../src/abandoned-uploads.js'

const MiB = 1024 * 1024
const serverScript = fileURLToPath(new URL('../src/server.ts', import.meta.url))

interface Child { process: ChildProcess; url: string; logs: any[] }

async function startServer(t: Test, lab: Lab, extra: Record<string, string>): Promise<Child> {
  const env = { ...process.env, ...labEnv(lab, 'uploader', { LOG_LEVEL: 'info', MULTIPART_PART_BYTES: String(5 * MiB), ...extra }) }
  delete env.REDIS_URL
  const child = spawn(process.execPath, ['--import', 'tsx', serverScript], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const logs: any[] = []
  let buffered = ''
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 60_000)
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        try { logs.push(JSON.parse(line)) } catch { continue }
        const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(logs[logs.length - 1].msg ?? '')
        if (listening) { clearTimeout(timer); resolve(listening[1]) }
      }
    })
    child.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`server exited (${code ?? signal}): ${stderr}`)) })
  })
  return { process: child, url, logs }
}

async function sweepLog(t: Test, child: Child): Promise<any> {
  await eventually(async () => child.logs.some((l) => /abandoned multipart uploads/.test(l.msg ?? '')), 'the start-up sweep ran', 30_000)
  return child.logs.find((l) => /abandoned multipart uploads/.test(l.msg ?? ''))
}

t.test('initiatorMatcher: any session of our role, or exactly our user', async (t) => {
  const ours = initiatorMatcher('arn:aws:sts::111122223333:assumed-role/kms-share-uploader/i-0upload7e5f4a3b21')
  t.ok(ours('arn:aws:sts::111122223333:assumed-role/kms-share-uploader/i-0upload7e5f4a3b21'))
  t.ok(ours('arn:aws:sts::111122223333:assumed-role/kms-share-uploader/i-0another'), 'another instance of the same role')
  t.ok(ours('arn:aws:iam::111122223333:role/kms-share-uploader'))
  t.notOk(ours('arn:aws:sts::111122223333:assumed-role/kms-share-uploader-2/x'))
  t.notOk(ours('arn:aws:iam::111122223333:user/admin'))
  t.notOk(ours(undefined))
  const user = initiatorMatcher('arn:aws:iam::111122223333:user/alice')
  t.ok(user('arn:aws:iam::111122223333:user/alice'))
  t.notOk(user('arn:aws:iam::111122223333:user/bob'))
})

t.test('kill -9 mid multipart upload, restart: the abandoned upload is aborted, others kept', async (t) => {
  const lab = await startTestLab(t)
  const admin = clientsAs(lab, 'admin')
  t.teardown(() => admin.s3.destroy())
  const list = async () => (await admin.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []

  const first = await startServer(t, lab, {})
  // A form upload of a 64 MiB file, cut off by the crash after its first parts are stored.
  const B = 'crashBoundary'
  const head = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="big-crash.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`)
  const form = openRequest(`${first.url}/files`, 'POST', { 'content-type': `multipart/form-data; boundary=${B}`, 'content-length': head.length + 64 * MiB + 8 + B.length })
  form.req.on('error', () => {})
  form.req.write(head)
  for (let i = 0; i < 12; i++) form.req.write(Buffer.alloc(MiB, i))
  await eventually(async () => {
    const [upload] = await list()
    if (!upload) return false
    const parts = await admin.s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: upload.Key, UploadId: upload.UploadId }))
    return (parts.Parts ?? []).length >= 1
  }, 'the multipart upload has parts in S3', 30_000)
  first.process.kill('SIGKILL')
  await new Promise((r) => first.process.once('exit', r))
  form.req.destroy()
  const left = await list()
  t.equal(left.length, 1, 'kill -9 leaves the multipart upload behind')
  t.equal(left[0]?.Key, 'big-crash.bin')
  t.match(left[0]?.Initiator?.ID, /assumed-role\/[^/]+uploader[^/]*\//, 'begun by the uploader role')

  // Someone else's multipart upload in the same bucket: not ours to abort.
  const foreign = await admin.s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'admin-upload.bin', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: labDeployment(lab).keyArn }))

  // A restart with the default age (24 h) keeps a fresh upload: it could be another instance's, still running.
  const young = await startServer(t, lab, {})
  t.match(await sweepLog(t, young), { aborted: 0, kept: 2 })
  t.equal((await list()).length, 2, 'nothing aborted while younger than MULTIPART_ABANDONED_AFTER_MS')
  young.process.kill('SIGKILL')
  await new Promise((r) => young.process.once('exit', r))

  const restarted = await startServer(t, lab, { MULTIPART_ABANDONED_AFTER_MS: '0' })
  t.match(await sweepLog(t, restarted), { aborted: 1, kept: 1, olderThanMs: 0 })
  const remaining = await list()
  t.same(remaining.map((u) => u.UploadId), [foreign.UploadId], "only the admin's upload remains; the crashed one is aborted")
  t.notOk(remaining.some((u) => u.Key === 'big-crash.bin'), 'no upload left from the crash')

  // Still a working service after the sweep.
  const put = await authorizedFetch(restarted.url)('/files/after-restart.txt', { method: 'PUT', body: 'ok' })
  t.equal(put.status, 201)
  restarted.process.kill('SIGTERM')
  await new Promise((r) => restarted.process.once('exit', r))
})
