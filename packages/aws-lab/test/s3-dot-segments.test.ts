// S3 keeps `.` and `..` in object keys: `zz/../secret.txt` is a key of its own, not `secret.txt`
// (issue 22, row 11: the lab resolved them as a URL path, so one key read another).
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html ("Object key naming guidelines": `.` and `..` segments)
import t from 'tap'
import { get as httpGet } from 'node:http'
import { get as httpsGet } from 'node:https'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { startTestLab, WITHOUT_STACKS } from './helpers/lab.js'

const BUCKET = 'kmsworkshop-111122223333'
const lab = await startTestLab(t, WITHOUT_STACKS)
const s3 = new S3Client({ region: lab.region, endpoint: lab.endpoint, forcePathStyle: true, credentials: lab.profiles().admin })
t.teardown(() => s3.destroy())

const read = async (key: string) => (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString()

t.test('keys with . and .. segments are stored and read as written', async (t) => {
  const keys = ['secret.txt', 'zz/../secret.txt', 'zz/./secret.txt', './secret.txt', 'zz/..', 'zz/.', '..', '.']
  for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `body of ${key}` }))
  for (const key of keys) t.equal(await read(key), `body of ${key}`, `${key} is its own object`)
  const listed = (await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents?.map((o) => o.Key).sort()
  t.same(listed, [...keys].sort(), 'each is listed under its own key')
})

t.test('percent-encoded dots are the same key, not segments to resolve', async (t) => {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'encoded/../x', Body: 'encoded' }))
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'x', Body: 'plain x' }))
  const signed = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: 'encoded/../x' }), { expiresIn: 60 })
  // As sent on the wire (fetch and URL would resolve `..` and `%2E%2E` before sending): S3 decodes %2E%2E to the same key.
  const path = signed.slice(signed.indexOf('/', signed.indexOf('//') + 2)).replace('/encoded/../x', '/encoded/%2E%2E/x')
  t.match(path, /\/encoded\/%2E%2E\/x\?/)
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const get = lab.endpoint.startsWith('https:') ? httpsGet : httpGet
    get({ host: lab.host, port: lab.port, path }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
  t.equal(status, 200)
  t.equal(body, 'encoded', 'not the object x')
})
