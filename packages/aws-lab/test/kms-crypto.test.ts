// Golden vectors for the KMS ciphertext blob and the encryption-context AAD: the bytes are a
// stored format (the lab keeps ciphertexts across restarts), so they must never drift.
import { createDecipheriv } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { decryptBlob, encodeEncryptionContext, encryptBlob, parseBlob } from '../src/kms/crypto.js'

interface BlobVector {
  name: string
  keyId: string
  materialVersion: number
  plaintext: string
  context?: Record<string, string>
  blobHex: string
}
const vectors = JSON.parse(readFileSync(new URL('./vectors/kms-crypto-vectors.json', import.meta.url), 'utf8')) as {
  keyMaterialHex: string
  ivHex: string
  blobs: BlobVector[]
  contexts: Array<{ context: Record<string, string>; aadHex: string }>
  naiveCollisions: Array<{ why: string; a: Record<string, string>; b: Record<string, string> }>
}
const material = Buffer.from(vectors.keyMaterialHex, 'hex')
const iv = Buffer.from(vectors.ivHex, 'hex')

t.test('encryption context encodes to the golden AAD bytes', async (t) => {
  for (const v of vectors.contexts) t.equal(encodeEncryptionContext(v.context).toString('hex'), v.aadHex, JSON.stringify(v.context))
  t.equal(encodeEncryptionContext(undefined).toString('hex'), '00000000', 'no context = empty context')
})

t.test('contexts that collide under naive concatenation encode differently', async (t) => {
  for (const c of vectors.naiveCollisions) t.not(encodeEncryptionContext(c.a).toString('hex'), encodeEncryptionContext(c.b).toString('hex'), c.why)
})

t.test('order of pairs does not matter', async (t) => {
  t.same(encodeEncryptionContext({ x: '1', y: '2', z: '3' }), encodeEncryptionContext({ z: '3', x: '1', y: '2' }))
})

for (const v of vectors.blobs) {
  t.test(`blob vector: ${v.name}`, async (t) => {
    const plaintext = Buffer.from(v.plaintext)
    const blob = encryptBlob({ keyId: v.keyId, materialVersion: v.materialVersion, material, plaintext, context: v.context, iv })
    t.equal(blob.toString('hex'), v.blobHex, 'fixed key, IV and context give the golden bytes')

    const golden = Buffer.from(v.blobHex, 'hex')
    const parsed = parseBlob(golden)
    t.ok(parsed, 'golden blob parses')
    t.equal(parsed!.keyId, v.keyId)
    t.equal(parsed!.materialVersion, v.materialVersion)
    t.same(decryptBlob(parsed!, material, v.context), plaintext, 'decrypts under its context')
    t.equal(decryptBlob(parsed!, material, { ...v.context, extra: 'x' }), undefined, 'another context fails')
    t.equal(decryptBlob(parsed!, Buffer.alloc(32, 7), v.context), undefined, 'other key material fails')
  })
}

t.test('the documented layout decrypts with plain node:crypto (format spec, independent of parseBlob)', async (t) => {
  const v = vectors.blobs[1]
  const blob = Buffer.from(v.blobHex, 'hex')
  t.equal(blob[0], 1, 'version byte')
  const idLength = blob.readUInt16BE(1)
  t.equal(blob.subarray(3, 3 + idLength).toString('utf8'), v.keyId, 'length-prefixed key id')
  t.equal(blob.readUInt32BE(3 + idLength), v.materialVersion, 'key-material version')
  const headerEnd = 3 + idLength + 4
  t.same(blob.subarray(headerEnd, headerEnd + 12), iv, 'IV follows the header')
  const decipher = createDecipheriv('aes-256-gcm', material, blob.subarray(headerEnd, headerEnd + 12))
  decipher.setAAD(Buffer.concat([blob.subarray(0, headerEnd), encodeEncryptionContext(v.context)]))
  decipher.setAuthTag(blob.subarray(blob.length - 16))
  const out = Buffer.concat([decipher.update(blob.subarray(headerEnd + 12, blob.length - 16)), decipher.final()])
  t.equal(out.toString(), v.plaintext)
})

t.test('tampering with any part of a blob is detected', async (t) => {
  const v = vectors.blobs[1]
  const golden = Buffer.from(v.blobHex, 'hex')
  const idLength = golden.readUInt16BE(1)
  const positions = { 'key-material version': 3 + idLength + 3, 'IV': 3 + idLength + 4, 'ciphertext': 3 + idLength + 4 + 12, 'tag': golden.length - 1 }
  for (const [part, at] of Object.entries(positions)) {
    const bad = Buffer.from(golden)
    bad[at] ^= 0x01
    const parsed = parseBlob(bad)
    t.equal(parsed ? decryptBlob(parsed, material, v.context) : undefined, undefined, `flipped bit in ${part}`)
  }
  const otherKeyId = Buffer.from(golden)
  otherKeyId[3] = 'f'.charCodeAt(0)
  t.equal(decryptBlob(parseBlob(otherKeyId)!, material, v.context), undefined, 'key id swapped in the header')
  t.equal(parseBlob(golden.subarray(0, 20)), undefined, 'truncated blob is not a blob')
  t.equal(parseBlob(Buffer.concat([Buffer.from([2]), golden.subarray(1)])), undefined, 'unknown version')
})

t.test('fresh IVs: the same plaintext encrypts differently each time', async (t) => {
  const a = encryptBlob({ keyId: 'k', materialVersion: 0, material, plaintext: Buffer.from('same') })
  const b = encryptBlob({ keyId: 'k', materialVersion: 0, material, plaintext: Buffer.from('same') })
  t.not(a.toString('hex'), b.toString('hex'))
})
