// Unit tests for S3's pieces that need no running lab: aws-chunked decoding with chunk and trailer
// signatures, checksums, the encrypted segmented object store, XML.
// Chunk signing: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
import t from 'tap'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { AwsChunkedDecoder } from '../src/s3/aws-chunked.js'
import { checksumOf, compositeChecksum, fullObjectChecksum } from '../src/s3/checksums.js'
import { commitTemp, readPlaintext, SEGMENT_SIZE, writeEncryptedTemp } from '../src/s3/object-store.js'
import { parseXml, toXml } from '../src/core/protocols/rest-xml.js'
import { operationOf, splitPath } from '../src/s3/protocol.js'

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const signing = { signingKey: randomBytes(32), seedSignature: 'a'.repeat(64), amzDate: '20261128T171400Z', scope: '20261128/eu-west-1/s3/aws4_request' }

function sign(prev: string, data: Buffer): string {
  const sts = ['AWS4-HMAC-SHA256-PAYLOAD', signing.amzDate, signing.scope, prev, EMPTY, createHash('sha256').update(data).digest('hex')].join('\n')
  return createHmac('sha256', signing.signingKey).update(sts).digest('hex')
}

function signedBody(chunks: Buffer[], trailer?: Record<string, string>): Buffer {
  const out: Buffer[] = []
  let prev = signing.seedSignature
  for (const c of [...chunks, Buffer.alloc(0)]) {
    const sig = sign(prev, c)
    prev = sig
    out.push(Buffer.from(`${c.length.toString(16)};chunk-signature=${sig}\r\n`), c)
    if (c.length) out.push(Buffer.from('\r\n'))
  }
  if (trailer) {
    const canonical = Object.entries(trailer).map(([k, v]) => `${k}:${v}\n`).join('')
    const sts = ['AWS4-HMAC-SHA256-TRAILER', signing.amzDate, signing.scope, prev, createHash('sha256').update(canonical).digest('hex')].join('\n')
    const tsig = createHmac('sha256', signing.signingKey).update(sts).digest('hex')
    for (const [k, v] of Object.entries(trailer)) out.push(Buffer.from(`${k}:${v}\r\n`))
    out.push(Buffer.from(`x-amz-trailer-signature:${tsig}\r\n`))
  }
  out.push(Buffer.from('\r\n'))
  return Buffer.concat(out)
}

/** Feeds a body in awkward slices so every parser state sees a split. */
function sliced(body: Buffer, size = 7): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < body.length; i += size) parts.push(body.subarray(i, i + size))
  return Readable.from(parts)
}

t.test('aws-chunked: signed chunks decode and every signature is checked', async (t) => {
  const data = [randomBytes(8192), randomBytes(8192), randomBytes(100)]
  const dec = new AwsChunkedDecoder({ signing })
  const out = await buffer(sliced(signedBody(data)).pipe(dec))
  t.same(out, Buffer.concat(data))

  const tampered = signedBody(data)
  tampered[tampered.indexOf(data[1].subarray(0, 16)) + 3] ^= 1
  await t.rejects(buffer(sliced(tampered).pipe(new AwsChunkedDecoder({ signing }))), { code: 'SignatureDoesNotMatch' })
})

t.test('aws-chunked: signed trailer with a checksum is verified', async (t) => {
  const data = [randomBytes(10000)]
  const crc = checksumOf('CRC32', data[0])
  const dec = new AwsChunkedDecoder({ signing, expectedTrailers: ['x-amz-checksum-crc32'] })
  const out = await buffer(sliced(signedBody(data, { 'x-amz-checksum-crc32': crc }), 1000).pipe(dec))
  t.same(out, data[0])
  t.equal(dec.trailers['x-amz-checksum-crc32'], crc)

  const body = signedBody(data, { 'x-amz-checksum-crc32': crc }).toString('latin1').replace(`x-amz-checksum-crc32:${crc}`, 'x-amz-checksum-crc32:AAAAAA==')
  await t.rejects(buffer(Readable.from([Buffer.from(body, 'latin1')]).pipe(new AwsChunkedDecoder({ signing, expectedTrailers: ['x-amz-checksum-crc32'] }))), {
    code: 'SignatureDoesNotMatch',
  })
})

t.test('aws-chunked: unsigned payload with trailer (what SDK v3 sends by default)', async (t) => {
  const data = randomBytes(70000)
  const body = Buffer.concat([
    Buffer.from(`${(65536).toString(16)}\r\n`), data.subarray(0, 65536), Buffer.from('\r\n'),
    Buffer.from(`${(data.length - 65536).toString(16)}\r\n`), data.subarray(65536), Buffer.from('\r\n'),
    Buffer.from(`0\r\nx-amz-checksum-crc32:${checksumOf('CRC32', data)}\r\n\r\n`),
  ])
  const dec = new AwsChunkedDecoder({ expectedTrailers: ['x-amz-checksum-crc32'] })
  t.same(await buffer(sliced(body, 333).pipe(dec)), data)
  t.equal(dec.trailers['x-amz-checksum-crc32'], checksumOf('CRC32', data))
  // A body cut before the final chunk is incomplete.
  await t.rejects(buffer(Readable.from([body.subarray(0, 70000)]).pipe(new AwsChunkedDecoder())), { code: 'IncompleteBody' })
})

t.test('checksums match known vectors', async (t) => {
  const v = Buffer.from('123456789')
  t.equal(checksumOf('CRC32', v), Buffer.from('cbf43926', 'hex').toString('base64'))
  t.equal(checksumOf('CRC32C', v), Buffer.from('e3069283', 'hex').toString('base64'))
  t.equal(checksumOf('CRC64NVME', v), Buffer.from('ae8b14860a799888', 'hex').toString('base64'))
  t.equal(checksumOf('SHA256', v), createHash('sha256').update(v).digest('base64'))
  t.equal(checksumOf('SHA1', v), createHash('sha1').update(v).digest('base64'))
  t.match(compositeChecksum('CRC32', [checksumOf('CRC32', v), checksumOf('CRC32', v)]), /^[A-Za-z0-9+/=]+-2$/)
  // FULL_OBJECT: combining the parts' CRCs gives the CRC of the concatenation.
  const parts = [randomBytes(1000), randomBytes(3), Buffer.alloc(0), randomBytes(70_000)]
  for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
    t.equal(fullObjectChecksum(alg, parts.map((p) => ({ checksum: checksumOf(alg, p), size: p.length }))), checksumOf(alg, Buffer.concat(parts)), `${alg} combine`)
  }
})

t.test('object store: ciphertext on disk, ranges read only what they need, tampering is caught', async (t) => {
  const dir = t.testdir()
  const key = randomBytes(32)
  const data = randomBytes(SEGMENT_SIZE * 3 + 1234)
  const final = join(dir, 'obj.data')
  const temp = await writeEncryptedTemp(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), key, final)
  commitTemp(temp.tempPath, final)
  t.equal(temp.size, data.length)
  const onDisk = readFileSync(final)
  t.equal(onDisk.length, data.length + 4 * 16, 'one GCM tag per segment')
  t.equal(onDisk.indexOf(data.subarray(0, 32)), -1, 'no plaintext on disk')
  const blob = { file: 'obj.data', size: data.length, noncePrefix: temp.noncePrefix }
  t.same(await buffer(readPlaintext(dir, key, [blob], 0, data.length - 1)), data)
  for (const [s, e] of [[0, 0], [SEGMENT_SIZE - 1, SEGMENT_SIZE], [100, SEGMENT_SIZE * 2 + 5], [data.length - 10, data.length - 1]] as const) {
    t.same(await buffer(readPlaintext(dir, key, [blob], s, e)), data.subarray(s, e + 1), `range ${s}-${e}`)
  }
  // Two blobs read as one object (multipart parts).
  const final2 = join(dir, 'part2.data')
  const temp2 = await writeEncryptedTemp(Readable.from([Buffer.from('tail')]), key, final2)
  commitTemp(temp2.tempPath, final2)
  const blob2 = { file: 'part2.data', size: 4, noncePrefix: temp2.noncePrefix }
  t.same(await buffer(readPlaintext(dir, key, [blob, blob2], data.length - 2, data.length + 3)), Buffer.concat([data.subarray(-2), Buffer.from('tail')]))

  onDisk[SEGMENT_SIZE + 16 + 5] ^= 1
  writeFileSync(final, onDisk)
  await t.rejects(buffer(readPlaintext(dir, key, [blob], SEGMENT_SIZE, SEGMENT_SIZE + 10)))
})

t.test('object store: objects of many reads (16 segments per read) decrypt whole and by ranges across read boundaries', async (t) => {
  const dir = t.testdir()
  const key = randomBytes(32)
  const data = randomBytes(SEGMENT_SIZE * 40 + 77)
  const final = join(dir, 'big.data')
  const temp = await writeEncryptedTemp(Readable.from([data]), key, final)
  commitTemp(temp.tempPath, final)
  const blob = { file: 'big.data', size: data.length, noncePrefix: temp.noncePrefix }
  t.ok((await buffer(readPlaintext(dir, key, [blob], 0, data.length - 1))).equals(data), 'whole')
  for (const [s, e] of [[SEGMENT_SIZE * 15 + 9, SEGMENT_SIZE * 33 + 3], [SEGMENT_SIZE * 16, SEGMENT_SIZE * 16], [SEGMENT_SIZE * 31 + 1, data.length - 1]] as const) {
    t.ok((await buffer(readPlaintext(dir, key, [blob], s, e))).equals(data.subarray(s, e + 1)), `range ${s}-${e}`)
  }
  // A file cut short by a whole segment and a tag: the last segments are missing, which is an error, never a short body.
  const onDisk = readFileSync(final)
  writeFileSync(final, onDisk.subarray(0, onDisk.length - 77 - 16 - SEGMENT_SIZE - 16))
  await t.rejects(buffer(readPlaintext(dir, key, [blob], 0, data.length - 1)), /truncated/)
})

t.test('object store: any chunking of the input (segments straddling, ending on or one past a boundary) reads back whole and seals the last segment once', async (t) => {
  const dir = t.testdir()
  const key = randomBytes(32)
  const cases: Array<[string, number, number[]]> = [
    ['exact segments, one chunk', SEGMENT_SIZE * 2, [SEGMENT_SIZE * 2]],
    ['exact segments, segment-sized chunks', SEGMENT_SIZE * 2, [SEGMENT_SIZE, SEGMENT_SIZE]],
    ['one byte past a boundary, alone', SEGMENT_SIZE + 1, [SEGMENT_SIZE, 1]],
    ['straddling chunks', SEGMENT_SIZE * 3 + 6, [SEGMENT_SIZE - 1, 2, SEGMENT_SIZE * 2 + 3, 1, 1]],
    ['tiny chunks then a large one', SEGMENT_SIZE * 4, [1, 1, 1, SEGMENT_SIZE * 4 - 3]],
    ['empty chunks between', SEGMENT_SIZE + 10, [0, SEGMENT_SIZE, 0, 10, 0]],
  ]
  for (const [name, size, chunks] of cases) {
    const data = randomBytes(size)
    const pieces: Buffer[] = []
    let at = 0
    for (const n of chunks) {
      pieces.push(data.subarray(at, at + n))
      at += n
    }
    const final = join(dir, `${pieces.length}-${size}.data`)
    const temp = await writeEncryptedTemp(Readable.from(pieces), key, final)
    commitTemp(temp.tempPath, final)
    t.equal(readFileSync(final).length, size + Math.ceil(size / SEGMENT_SIZE) * 16, `${name}: one tag per segment`)
    const blob = { file: final.slice(dir.length + 1), size, noncePrefix: temp.noncePrefix }
    t.ok((await buffer(readPlaintext(dir, key, [blob], 0, size - 1))).equals(data), `${name}: reads back`)
    // A file cut after a whole segment fails: only the true last segment is flagged last in its AAD.
    const cut = join(dir, `cut-${pieces.length}-${size}.data`)
    writeFileSync(cut, readFileSync(final).subarray(0, SEGMENT_SIZE + 16))
    await t.rejects(buffer(readPlaintext(dir, key, [{ ...blob, file: cut.slice(dir.length + 1), size: SEGMENT_SIZE }], 0, SEGMENT_SIZE - 1)), `${name}: truncation detected`)
  }
})

t.test('object store: a failed stream leaves no file', async (t) => {
  const dir = t.testdir()
  const source = new Readable({ read() {} })
  source.push(randomBytes(100000))
  setTimeout(() => source.destroy(new Error('connection reset')), 20)
  await t.rejects(writeEncryptedTemp(source, randomBytes(32), join(dir, 'x.data')), /connection reset/)
  t.same(readdirSync(dir), [])
})

t.test('xml and routing', async (t) => {
  t.equal(toXml('A', { B: ['1', '2'], C: { D: 'x&y' }, E: undefined }), '<?xml version="1.0" encoding="UTF-8"?>\n<A xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><B>1</B><B>2</B><C><D>x&amp;y</D></C></A>')
  t.same(parseXml('<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;b</Key></Object></Delete>', 'Delete'), { Object: { Key: 'a&b' } })
  t.throws(() => parseXml('<nope', 'Delete'), { code: 'MalformedXML' })
  t.same(splitPath('/b/dir/a%20b+c'), { bucket: 'b', key: 'dir/a b+c' })
  t.equal(operationOf('POST', 'b', 'k', { uploads: '' }, {}), 'CreateMultipartUpload')
  t.equal(operationOf('PUT', 'b', 'k', { partNumber: '1', uploadId: 'u' }, {}), 'UploadPart')
  t.equal(operationOf('PUT', 'b', 'k', {}, { 'x-amz-copy-source': '/a/b' }), 'CopyObject')
  t.equal(operationOf('GET', 'b', undefined, { 'list-type': '2' }, {}), 'ListObjectsV2')
  t.equal(operationOf('POST', 'b', undefined, { delete: '' }, {}), 'DeleteObjects')
  t.equal(operationOf('GET', 'b', 'k', { tagging: '' }, {}), 'GetObjectTagging')
  t.equal(operationOf('PUT', 'b', 'k', { partNumber: '2', uploadId: 'u' }, { 'x-amz-copy-source': '/b/src' }), 'UploadPartCopy')
  // A sub-resource the lab does not serve must never read as a listing or an object.
  t.throws(() => operationOf('GET', 'b', undefined, { cors: '' }, {}), { code: 'NotImplemented' })
  t.equal(operationOf('GET', 'b', undefined, { versioning: '' }, {}), 'GetBucketVersioning', 'bucket configurations the lab serves (s3/bucket-config.ts)')
  t.throws(() => operationOf('PUT', 'b', 'k', { acl: '' }, {}), { code: 'NotImplemented' })
})
