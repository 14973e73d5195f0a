// The download service over real HTTP against a lab started here; objects are put through the
// AWS SDK as identities allowed to write, and the service reads them as the downloader role.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { IAMClient, CreatePolicyVersionCommand, GetPolicyCommand, GetPolicyVersionCommand, DeletePolicyVersionCommand, ListPolicyVersionsCommand } from '@aws-sdk/client-iam'
import { fromIni } from '@aws-sdk/credential-providers'
import { AUTH, awsEnv, filePath, KEY_ALIAS, putObject, s3As, startDownload, startTestLab, eventually } from './helpers.js'
import { cuttingProxy } from './proxy.js'

const lab = await startTestLab(t)
const writer = s3As(lab, 'admin')
const service = await startDownload(t, lab, 'downloader')
const { url, api, cacheAdmin } = service
const cacheDir = () => (service.app.downloader.cache.dir)
const stats = () => service.app.downloader.stats

async function getJson(path: string, as = api) {
  const res = await as(path)
  return { res, body: await res.json() as any }
}

function localFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('localfile-'))
}

function tempFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('.tmp-'))
}

t.test('GET /files lists objects with their SSE-KMS encryption and key ARN', async (t) => {
  await putObject(writer, 'listed.txt', 'listed')
  await putObject(writer, 'listed-2.txt', 'listed too')
  const kms = new KMSClient({ ...awsEnvClient('admin') })
  const key = await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }))
  kms.destroy()
  const { res, body } = await getJson('/files')
  t.equal(res.status, 200)
  const item = body.items.find((i: any) => i.key === 'listed.txt')
  t.ok(item, 'listed')
  t.equal(item.size, 6)
  t.equal(item.encryption.algorithm, 'aws:kms')
  t.equal(item.encryption.kmsKeyArn, key.KeyMetadata?.Arn)
  t.equal(item.cached, false)

  const paged = await getJson('/files?limit=1')
  t.equal(paged.body.items.length, 1)
  t.ok(paged.body.nextToken, 'a next page token when more objects exist')
  const next = await getJson(`/files?limit=1&token=${encodeURIComponent(paged.body.nextToken)}`)
  t.not(next.body.items[0].key, paged.body.items[0].key)
})

function awsEnvClient(profile: string) {
  const env = awsEnv(lab, profile)
  return {
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL,
    credentials: fromIni({ profile, filepath: env.AWS_SHARED_CREDENTIALS_FILE, configFilepath: env.AWS_CONFIG_FILE }),
  }
}

// A cache hit is revalidated with a one-byte GetObject with If-Match (412 when the ETag changed),
// which S3 answers only after decrypting as the caller:
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
t.test('miss, then hit after revalidation, then a fresh copy after an overwrite', async (t) => {
  const key = 'SampleFile-KMS.txt'
  const etag = await putObject(writer, key, 'Sample text for the KMS workshop\n')
  const before = stats().s3Fetches

  const first = await api(filePath(key))
  t.equal(first.status, 200)
  t.equal(await first.text(), 'Sample text for the KMS workshop\n')
  t.equal(first.headers.get('x-cache'), 'miss')
  t.equal(first.headers.get('etag'), etag)
  t.ok(first.headers.get('last-modified'))
  t.equal(first.headers.get('content-disposition'), `attachment; filename="${key}"; filename*=UTF-8''${key}`)
  t.equal(first.headers.get('x-content-type-options'), 'nosniff')
  t.match(first.headers.get('content-type'), /^text\/plain/)
  t.equal(stats().s3Fetches, before + 1)
  // The response ends only after the file is renamed into place.
  t.equal(readFileSync(`${cacheDir()}/localfile-${key}`, 'utf8'), 'Sample text for the KMS workshop\n')

  const listing = await getJson('/cache', cacheAdmin)
  const entry = listing.body.items.find((i: any) => i.key === key)
  t.match(entry, { name: `localfile-${key}`, size: 33, etag })
  t.ok(Date.parse(entry.cachedAt))

  const revalidations = stats().revalidations
  const second = await api(filePath(key))
  t.equal(await second.text(), 'Sample text for the KMS workshop\n')
  t.equal(second.headers.get('x-cache'), 'hit')
  t.equal(stats().s3Fetches, before + 1, 'no second GetObject of the body')
  t.ok(stats().revalidations > revalidations, 'checked with S3 first')

  const notModified = await api(filePath(key), { headers: { 'if-none-match': etag } })
  t.equal(notModified.status, 304)

  const newEtag = await putObject(writer, key, 'Overwritten!\n')
  const third = await api(filePath(key))
  t.equal(await third.text(), 'Overwritten!\n')
  t.equal(third.headers.get('etag'), newEtag)
  t.equal(third.headers.get('x-cache'), 'miss')
  t.equal(service.app.downloader.cache.lookup(key)?.etag, newEtag, 'the new copy cached')
  t.equal(readFileSync(`${cacheDir()}/localfile-${key}`, 'utf8'), 'Overwritten!\n')

  const listed = await getJson('/files')
  t.equal(listed.body.items.find((i: any) => i.key === key).cached, true)
})

// A client that leaves only lets go of its reader: the fill runs on at S3's speed (issue 9).
t.test('a client that disconnects mid-download: the fill completes, no temporary file remains', async (t) => {
  const key = 'big-cut.bin'
  await putObject(writer, key, Buffer.alloc(32 * 1024 * 1024, 7))
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest(url + filePath(key), { headers: AUTH }, (res) => {
      res.once('data', () => {
        req.destroy()
        resolve()
      })
    })
    req.on('error', (err) => (err.message === 'socket hang up' ? resolve() : reject(err)))
    req.end()
  })
  await eventually(() => service.app.downloader.cache.lookup(key) !== undefined, 'the whole object cached although its client left')
  await eventually(() => tempFiles(cacheDir()).length === 0, 'no temporary file (the index is written just after the entry)')
  t.equal(readFileSync(`${cacheDir()}/localfile-${key}`).length, 32 * 1024 * 1024)
  const again = await api(filePath(key))
  t.equal(again.headers.get('x-cache'), 'hit')
  t.equal(Buffer.from(await again.arrayBuffer()).length, 32 * 1024 * 1024)
})

t.test('concurrent misses for one key make one GetObject', async (t) => {
  const key = 'single-flight.bin'
  const content = Buffer.alloc(4 * 1024 * 1024)
  for (let i = 0; i < content.length; i++) content[i] = i % 251
  await putObject(writer, key, content)
  const digest = createHash('sha256').update(content).digest('hex')
  const before = stats().s3Fetches
  const bodies = await Promise.all(Array.from({ length: 8 }, async () => {
    const res = await api(filePath(key))
    t.equal(res.status, 200)
    return createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')
  }))
  t.same(bodies, Array(8).fill(digest), 'every client got the whole object')
  t.equal(stats().s3Fetches, before + 1, 'one GetObject for eight clients')

  // Eight concurrent hits: served from the file after shared revalidations, no new fetch.
  const checksBefore = stats().revalidations
  const hits = await Promise.all(Array.from({ length: 8 }, async () => {
    const res = await api(filePath(key))
    t.equal(res.headers.get('x-cache'), 'hit')
    return createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')
  }))
  t.same(hits, Array(8).fill(digest))
  t.equal(stats().s3Fetches, before + 1)
  t.ok(stats().revalidations - checksBefore >= 1 && stats().revalidations - checksBefore <= 8, `${stats().revalidations - checksBefore} revalidations for 8 hits`)
})

t.test('names: 300-byte keys, keys with /, unicode', async (t) => {
  const long = 'n'.repeat(296) + '.txt'
  const slashed = 'reports/2026/q1.csv'
  const unicode = 'Ünïcödé 文件 (1).txt'
  await putObject(writer, long, 'long')
  await putObject(writer, slashed, 'a,b\n1,2\n')
  await putObject(writer, unicode, 'unicode')

  const longRes = await api(filePath(long))
  t.equal(await longRes.text(), 'long')
  const longEntry = service.app.downloader.cache.lookup(long)
  t.ok(longEntry, 'the 300-byte key is cached')
  t.ok(Buffer.byteLength(longEntry!.name) <= 255, `${Buffer.byteLength(longEntry!.name)}-byte file name`)
  t.ok(localFiles(cacheDir()).includes(longEntry!.name))

  const slashRes = await api('/files/reports/2026/q1.csv')
  t.equal(await slashRes.text(), 'a,b\n1,2\n')
  t.match(slashRes.headers.get('content-type'), /^text\/csv/)
  t.match(slashRes.headers.get('content-disposition'), /filename="q1.csv"/)
  const slashEntry = service.app.downloader.cache.lookup(slashed)
  t.notOk(slashEntry!.name.includes('/'))
  t.ok(localFiles(cacheDir()).includes(slashEntry!.name))

  const uniRes = await api(filePath(unicode))
  t.equal(await uniRes.text(), 'unicode')
  t.equal(uniRes.headers.get('content-disposition'),
    `attachment; filename="_n_c_d_ __ (1).txt"; filename*=UTF-8''%C3%9Cn%C3%AFc%C3%B6d%C3%A9%20%E6%96%87%E4%BB%B6%20%281%29.txt`)
  t.equal(service.app.downloader.cache.lookup(unicode)?.name, `localfile-${unicode}`)
})

t.test('an .html file is an attachment with nosniff, never rendered', async (t) => {
  await putObject(writer, 'page.html', '<script>alert(1)</script>')
  const res = await api(filePath('page.html'))
  t.match(res.headers.get('content-type'), /^text\/html/)
  t.match(res.headers.get('content-disposition'), /^attachment;/)
  t.equal(res.headers.get('x-content-type-options'), 'nosniff')
  t.equal(await res.text(), '<script>alert(1)</script>')
})

t.test('ranges: from S3 uncached, from the cache once cached, 416 past the end', async (t) => {
  const key = 'ranges.txt'
  await putObject(writer, key, '0123456789')
  const fromS3 = await api(filePath(key), { headers: { range: 'bytes=2-5' } })
  t.equal(fromS3.status, 206)
  t.equal(await fromS3.text(), '2345')
  t.equal(fromS3.headers.get('content-range'), 'bytes 2-5/10')
  t.equal(service.app.downloader.cache.lookup(key), undefined, 'a partial object is never cached')

  await (await api(filePath(key))).text()
  await eventually(() => service.app.downloader.cache.lookup(key) !== undefined, 'cached')
  const cached = await api(filePath(key), { headers: { range: 'bytes=-3' } })
  t.equal(cached.status, 206)
  t.equal(cached.headers.get('x-cache'), 'hit')
  t.equal(cached.headers.get('content-range'), 'bytes 7-9/10')
  t.equal(await cached.text(), '789')

  const past = await api(filePath(key), { headers: { range: 'bytes=10-' } })
  t.equal(past.status, 416)
  t.equal(past.headers.get('content-range'), 'bytes */10')
  t.match(await past.json(), { code: 'DWN_RANGE_NOT_SATISFIABLE', status: 416 })
})

t.test('HEAD answers headers only', async (t) => {
  await putObject(writer, 'head.txt', 'head body')
  const res = await api(filePath('head.txt'), { method: 'HEAD' })
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-length'), '9')
  t.match(res.headers.get('content-disposition'), /^attachment;/)
  t.equal(service.app.downloader.cache.lookup('head.txt'), undefined, 'HEAD does not fill the cache')
})

t.test('a missing object is a 404 problem', async (t) => {
  const res = await api(filePath('no-such-object.txt'))
  t.equal(res.status, 404)
  t.match(res.headers.get('content-type'), /^application\/problem\+json/)
  t.match(await res.json(), { status: 404, code: 'SHR_AWS_NO_SUCH_KEY', awsErrorCode: 'NoSuchKey' })
  const head = await api(filePath('no-such-object.txt'), { method: 'HEAD' })
  t.equal(head.status, 404)
})

t.test('cache routes: delete one, delete all', async (t) => {
  const { body } = await getJson('/cache', cacheAdmin)
  t.ok(body.items.length >= 2)
  const name = body.items[0].name
  const del = await cacheAdmin(`/cache/${encodeURIComponent(name)}`, { method: 'DELETE' })
  t.equal(del.status, 204)
  t.notOk(localFiles(cacheDir()).includes(name))
  const again = await cacheAdmin(`/cache/${encodeURIComponent(name)}`, { method: 'DELETE' })
  t.equal(again.status, 404)
  t.match(await again.json(), { code: 'DWN_CACHE_ENTRY_NOT_FOUND' })
  const traversal = await cacheAdmin(`/cache/${encodeURIComponent('../cache-index.json')}`, { method: 'DELETE' })
  t.equal(traversal.status, 404)
  const all = await cacheAdmin('/cache', { method: 'DELETE' })
  t.ok((await all.json() as any).removed >= 1)
  t.same(localFiles(cacheDir()), [])
  t.same((await getJson('/cache', cacheAdmin)).body.items, [])
})

t.test('the page lists objects (escaped) and local files', async (t) => {
  await putObject(writer, '<b>bold</b>.txt', 'x')
  await (await api(filePath('SampleFile-KMS.txt'))).text()
  const res = await api('/')
  t.match(res.headers.get('content-type'), /^text\/html/)
  const html = await res.text()
  t.match(html, '<div id="objects-browser" data-list="/files" data-details="/details/" data-link="/files/" data-encryption="1"', 'the object browser reads the API the scripts use')
  t.match(html, 'localfile-SampleFile-KMS.txt')
  // Each object shows how it is encrypted, as the workshop checked in the console: SSE-KMS and the key.
  const listed = await getJson('/files?delimiter=/&prefix=SampleFile-KMS')
  t.match(listed.body.items, [{ key: 'SampleFile-KMS.txt', cached: true, encryption: { algorithm: 'aws:kms', kmsKeyArn: /^arn:aws:kms:eu-west-1:111122223333:key\/[0-9a-f-]{36}$/ } }])
  const details = await getJson(filePath('SampleFile-KMS.txt').replace(/^\/files\//, '/details/'))
  t.match(details.body, { key: 'SampleFile-KMS.txt', etag: /^"[0-9a-f]{32}"$/, encryption: { algorithm: 'aws:kms', kmsKeyArn: /^arn:aws:kms:/ }, cached: true, localFile: 'localfile-SampleFile-KMS.txt' })
  const gone = await getJson('/details/no-such-object')
  t.equal(gone.res.status, 404)
  t.match(gone.body, { code: 'SHR_AWS_NO_SUCH_KEY' })
})

t.test('health, readiness and OpenAPI', async (t) => {
  t.same((await getJson('/healthz')).body, { status: 'ok' })
  const ready = await getJson('/readyz')
  t.equal(ready.res.status, 200)
  const docs = await getJson('/docs/json')
  t.ok(docs.body.openapi)
  t.ok(Object.keys(docs.body.paths).some((p) => p.startsWith('/files/')))
  t.ok(docs.body.paths['/cache'])
})

t.test('LRU: past CACHE_MAX_BYTES the least recently used file goes', async (t) => {
  const small = await startDownload(t, lab, 'downloader', { CACHE_MAX_BYTES: String(2500) })
  const kib = (c: string) => Buffer.alloc(1024, c)
  await putObject(writer, 'lru-a', kib('a'))
  await putObject(writer, 'lru-b', kib('b'))
  await putObject(writer, 'lru-c', kib('c'))
  const get = async (key: string) => (await small.api(filePath(key))).arrayBuffer()
  await get('lru-a')
  await new Promise((r) => setTimeout(r, 10))
  await get('lru-b')
  await new Promise((r) => setTimeout(r, 10))
  await get('lru-a') // a is now more recent than b
  await new Promise((r) => setTimeout(r, 10))
  await get('lru-c')
  const keys = (await (await small.cacheAdmin('/cache')).json() as any).items.map((i: any) => i.key).sort()
  t.same(keys, ['lru-a', 'lru-c'])
  t.same(localFiles(small.app.downloader.cache.dir).sort(), ['localfile-lru-a', 'localfile-lru-c'])
})

t.test('an unwritable cache folder degrades to streaming with a warning; still ready', async (t) => {
  const dir = t.testdir({ 'not-a-folder': 'x' })
  const degraded = await startDownload(t, lab, 'downloader', { CACHE_DIR: `${dir}/not-a-folder/cache` })
  t.ok(degraded.logs.some((l) => l.level === 40 && /not writable/.test(String(l.msg))), 'a warning is logged')
  const res = await degraded.api(filePath('listed.txt'))
  t.equal(await res.text(), 'listed')
  t.equal(res.headers.get('x-cache'), 'miss')
  t.equal((await fetch(degraded.url + '/readyz')).status, 200)
  t.match(await (await degraded.cacheAdmin('/cache')).json(), { enabled: false, items: [] })
})

// Reading an SSE-KMS object needs s3:GetObject and kms:Decrypt on the key:
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms
t.test('run as the uploader: 403 naming s3:GetObject, nothing cached', async (t) => {
  const asUploader = await startDownload(t, lab, 'uploader')
  const res = await asUploader.api(filePath('listed.txt'))
  t.equal(res.status, 403)
  t.match(res.headers.get('content-type'), /^application\/problem\+json/)
  const problem = await res.json() as any
  t.match(problem, { status: 403, awsErrorCode: 'AccessDenied', action: 's3:GetObject' })
  t.match(problem.detail, /is not authorized to perform: s3:GetObject/)
  t.same(localFiles(asUploader.app.downloader.cache.dir), [])
  t.same(tempFiles(asUploader.app.downloader.cache.dir), [])
  const head = await asUploader.api(filePath('listed.txt'), { method: 'HEAD' })
  t.equal(head.status, 403)
  // The uploader may list the bucket but not HeadObject: names and sizes, no encryption details.
  const listing = await (await asUploader.api('/files')).json() as any
  t.match(listing.items.find((i: any) => i.key === 'listed.txt'), { size: 6, encryption: null, encryptionError: 'AccessDenied' })
})

// CreatePolicyVersion with SetAsDefault replaces a managed policy's permissions at once:
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicyVersion.html
t.test('run as the workshop role without kms:Decrypt: 403 naming kms:Decrypt', async (t) => {
  // Without an S3 Bucket Key every read asks KMS; with one, S3 may reuse a decrypted bucket key for a while.
  await putObject(writer, 'decrypt-denial.txt', 'secret', undefined, false)
  const asWorkshop = await startDownload(t, lab, 'workshop')
  const ok = await asWorkshop.api(filePath('decrypt-denial.txt'))
  t.equal(ok.status, 200, 'readable while the role may decrypt')
  await ok.text()
  t.same(localFiles(asWorkshop.app.downloader.cache.dir), ['localfile-decrypt-denial.txt'], 'cached while readable')

  const iam = new IAMClient(awsEnvClient('admin'))
  t.teardown(() => iam.destroy())
  const policyArn = `arn:aws:iam::${lab.accountId}:policy/KMS-Workshop-EncDecPermissions`
  const policy = await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }))
  const version = await iam.send(new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: policy.Policy!.DefaultVersionId! }))
  const document = JSON.parse(decodeURIComponent(version.PolicyVersion!.Document!))
  for (const statement of document.Statement) {
    statement.Action = [statement.Action].flat().filter((a: string) => a !== 'kms:Decrypt')
  }
  await iam.send(new CreatePolicyVersionCommand({ PolicyArn: policyArn, PolicyDocument: JSON.stringify(document), SetAsDefault: true }))
  t.teardown(async () => {
    // Put the workshop's policy back for anything that runs after this test.
    await iam.send(new CreatePolicyVersionCommand({
      PolicyArn: policyArn,
      PolicyDocument: decodeURIComponent(version.PolicyVersion!.Document!),
      SetAsDefault: true,
    }))
    const versions = await iam.send(new ListPolicyVersionsCommand({ PolicyArn: policyArn }))
    for (const v of versions.Versions ?? []) {
      if (!v.IsDefaultVersion && v.VersionId !== policy.Policy!.DefaultVersionId) {
        await iam.send(new DeletePolicyVersionCommand({ PolicyArn: policyArn, VersionId: v.VersionId! }))
      }
    }
  })

  const res = await asWorkshop.api(filePath('decrypt-denial.txt'))
  t.equal(res.status, 403)
  const problem = await res.json() as any
  t.match(problem, { status: 403, awsErrorCode: 'AccessDenied', action: 'kms:Decrypt' })
  t.match(problem.detail, /not authorized to perform: kms:Decrypt/)
  // The cached copy neither serves the revoked caller nor outlives the permission.
  t.same(localFiles(asWorkshop.app.downloader.cache.dir), [])
  t.same(tempFiles(asWorkshop.app.downloader.cache.dir), [])
})

t.test('an S3 transfer cut mid-way leaves no cache entry and no temporary file', async (t) => {
  const size = 32 * 1024 * 1024
  await putObject(writer, 'cut-by-s3.bin', Buffer.alloc(size, 3))
  // S3 reached through a proxy that cuts the connection after 4 MiB of the answer.
  const proxy = await cuttingProxy(t, lab.endpoint)
  const svc = await startDownload(t, lab, 'downloader', { AWS_ENDPOINT_URL: proxy.endpoint })
  proxy.cutAfter = 4 * 1024 * 1024
  const received = await new Promise<number>((resolve) => {
    let bytes = 0
    const req = httpRequest(svc.url + filePath('cut-by-s3.bin'), { headers: AUTH }, (res) => {
      res.on('data', (c: Buffer) => void (bytes += c.length))
      res.on('error', () => resolve(bytes))
      res.on('close', () => resolve(bytes))
    })
    req.on('error', () => resolve(bytes))
    req.end()
  })
  t.ok(proxy.cuts >= 1, 'the proxy cut the S3 answer')
  t.ok(received < size, `the client got a cut transfer (${received} of ${size} bytes)`)
  await eventually(() => tempFiles(svc.app.downloader.cache.dir).length === 0, 'the temporary file removed')
  t.equal(svc.app.downloader.cache.lookup('cut-by-s3.bin'), undefined)
  t.same(localFiles(svc.app.downloader.cache.dir), [])
})
