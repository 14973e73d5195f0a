// Multipart uploads through @aws-sdk/lib-storage (default checksums) and the low-level API, as the
// services' roles: the uploader completes an SSE-KMS upload (S3 decrypts the data key as the caller,
// which AWS requires: https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions)
// but may not read the object back.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import {
  S3Client, GetObjectCommand, HeadObjectCommand, CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand, ListPartsCommand, ListMultipartUploadsCommand,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail'
import { checksumOf } from '../src/s3/checksums.js'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const BUCKET = 'kmsworkshop-111122223333'
const MiB = 1024 * 1024

// Real clients (Python CLI startups, SDK retries) on a shared, busy machine: allow more than tap's default.
t.setTimeout(10 * 60 * 1000)

t.test('multipart uploads', async (t) => {
  const lab = await startTestLab(t, WITHOUT_STACKS)
  const uploader = new S3Client(lab.clientConfig('uploader'))
  const downloader = new S3Client(lab.clientConfig('downloader'))
  const trail = new CloudTrailClient(lab.clientConfig('admin'))
  t.teardown(() => { uploader.destroy(); downloader.destroy(); trail.destroy() })

  t.test('lib-storage SSE-KMS upload as the uploader; downloader reads it, uploader cannot', async (t) => {
    const data = randomBytes(12 * MiB + 12345)
    // A stream of odd-sized pieces so lib-storage does the part splitting.
    const pieces: Buffer[] = []
    for (let i = 0; i < data.length; i += 1_000_003) pieces.push(data.subarray(i, i + 1_000_003))
    const upload = new Upload({
      client: uploader,
      params: { Bucket: BUCKET, Key: 'mp/big.bin', Body: Readable.from(pieces), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' },
      partSize: 5 * MiB,
      queueSize: 2,
    })
    const done = await upload.done()
    t.match(done.ETag, /-3"$/, 'three parts')
    const head = await downloader.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'mp/big.bin' }))
    t.equal(head.ContentLength, data.length)
    t.equal(head.ServerSideEncryption, 'aws:kms')
    t.match(head.SSEKMSKeyId, /^arn:aws:kms:eu-west-1:111122223333:key\//)
    const get = await downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'mp/big.bin' }))
    const back = Buffer.from(await get.Body!.transformToByteArray())
    t.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(data).digest('hex'), 'same bytes')
    const range = await downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'mp/big.bin', Range: `bytes=${5 * MiB - 3}-${5 * MiB + 2}` }))
    t.same(Buffer.from(await range.Body!.transformToByteArray()), data.subarray(5 * MiB - 3, 5 * MiB + 3), 'a range across a part boundary')
    await t.rejects(uploader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'mp/big.bin' })), {
      name: 'AccessDenied',
      message: /kms-share-uploader\/.* is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::kmsworkshop-111122223333\/mp\/big.bin"/,
    })
    // The uploader's Decrypt went through S3 (kms:ViaService) — recorded as invoked by S3.
    const events = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Decrypt' }] }))
    const decrypts = (events.Events ?? []).map((e) => JSON.parse(e.CloudTrailEvent!)).filter((e) => /kms-share-uploader/.test(e.userIdentity?.arn ?? ''))
    t.ok(decrypts.length >= 3, 'one Decrypt per part')
    t.ok(decrypts.every((e) => e.userIdentity.invokedBy === 'fas.s3.amazonaws.com'))
  })

  t.test('low-level API: EntityTooSmall, ETag checks, list parts and uploads, abort', async (t) => {
    const key = 'mp/low.bin'
    const create = await uploader.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK', ChecksumAlgorithm: 'CRC32' }))
    const UploadId = create.UploadId!
    t.equal(create.ServerSideEncryption, 'aws:kms')
    const p1 = await uploader.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: randomBytes(1000), ChecksumAlgorithm: 'CRC32' }))
    const p2 = await uploader.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 2, Body: randomBytes(1000), ChecksumAlgorithm: 'CRC32' }))
    t.ok(p1.ChecksumCRC32)
    const parts = await uploader.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId }))
    t.same(parts.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]), [[1, 1000, p1.ETag], [2, 1000, p2.ETag]])
    const uploads = await uploader.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))
    t.ok(uploads.Uploads?.some((u) => u.UploadId === UploadId && u.Key === key))
    await t.rejects(
      uploader.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] } })),
      { name: 'EntityTooSmall', $metadata: { httpStatusCode: 400 } },
    )
    await t.rejects(
      uploader.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }] } })),
      { name: 'InvalidPart' },
    )
    await t.rejects(
      uploader.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 2, ETag: p2.ETag }, { PartNumber: 1, ETag: p1.ETag }] } })),
      { name: 'InvalidPartOrder' },
    )
    // A single small part is fine: only parts before the last must be 5 MiB.
    const one = await uploader.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag, ChecksumCRC32: p1.ChecksumCRC32 }] } }))
    t.match(one.ETag, /-1"$/)
    t.match(one.ChecksumCRC32, /-1$/, 'composite checksum')

    const second = await uploader.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp/aborted', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' }))
    await uploader.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'mp/aborted', UploadId: second.UploadId, PartNumber: 1, Body: 'x' }))
    await uploader.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp/aborted', UploadId: second.UploadId }))
    await t.rejects(uploader.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'mp/aborted', UploadId: second.UploadId })), { name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } })
  })

  t.test('FULL_OBJECT CRC32: parts combine into the whole object\'s checksum, which GET returns and the SDK verifies', async (t) => {
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html#ChecksumTypes
    const key = 'mp/full-object.bin'
    const parts = [randomBytes(5 * MiB), randomBytes(123_457)]
    const full = checksumOf('CRC32', Buffer.concat(parts))
    const create = await uploader.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ChecksumAlgorithm: 'CRC32', ChecksumType: 'FULL_OBJECT' }))
    const UploadId = create.UploadId!
    const etags = []
    for (const [n, body] of parts.entries()) {
      const up = await uploader.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: n + 1, Body: body, ChecksumAlgorithm: 'CRC32' }))
      etags.push({ PartNumber: n + 1, ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32 })
    }
    await t.rejects(
      uploader.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, ChecksumCRC32: 'AAAAAA==', ChecksumType: 'FULL_OBJECT', MultipartUpload: { Parts: etags } })),
      { name: 'BadDigest' },
    )
    const done = await uploader.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, ChecksumCRC32: full, ChecksumType: 'FULL_OBJECT', MultipartUpload: { Parts: etags } }))
    t.equal(done.ChecksumCRC32, full)
    t.equal(done.ChecksumType, 'FULL_OBJECT')
    const got = await downloader.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: 'ENABLED' }))
    t.equal(got.ChecksumCRC32, full)
    t.equal(got.ChecksumType, 'FULL_OBJECT')
    t.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat(parts)), 'body read and validated by the SDK')
  })

  t.test('a caller without s3:PutObject cannot start an upload', async (t) => {
    const s3 = new S3Client(lab.clientConfig('downloader'))
    t.teardown(() => s3.destroy())
    await t.rejects(s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp/x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/ImportedCMK' })), {
      name: 'AccessDenied',
      message: /not authorized to perform: s3:PutObject/,
    })
  })
})
