// The root `pnpm start` (scripts/start.mjs): the whole stack from the lab's files, the
// workshop's round trip through curl-like requests, and Ctrl-C (SIGINT) stopping everything.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '@kms-share/aws-lab/testing'
import { followStart } from './start-helpers.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

t.test('pnpm start runs lab, upload and download; SampleFile-KMS.txt goes round; SIGINT stops all', async (t) => {
  // The script runs built code: the lab and the services this package depends on, built here (turbo's cache makes it quick).
  const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@kms-share/e2e^...', '--output-logs=errors-only'], { cwd: root, encoding: 'utf8' })
  t.equal(build.status, 0, build.stderr)
  for (const script of ['packages/aws-lab/dist/server.js', 'services/upload/dist/server.js', 'services/download/dist/server.js']) {
    t.ok(existsSync(join(root, script)), `${script} built`)
  }
  const dir = t.testdir()
  const [labPort, uploadPort, downloadPort] = [await freePort(), await freePort(), await freePort()]
  const env: NodeJS.ProcessEnv = { ...process.env, LAB_DATA_DIR: join(dir, 'lab'), CACHE_DIR: join(dir, 'cache'), REDIS_DATA_DIR: join(dir, 'redis'), LAB_PORT: String(labPort), UPLOAD_PORT: String(uploadPort), DOWNLOAD_PORT: String(downloadPort), LOG_LEVEL: 'warn', KEYADMIN_PORT: String(await freePort()) }
  delete env.INIT_CWD
  // With its build (all from turbo's cache after the one above): the build-step lines are part of what it says.
  const child = spawn(process.execPath, [join(root, 'scripts/start.mjs')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const stack = await followStart(t, child)
  if (!stack.ready) return
  // Issue 27: it talks while it builds, warns of nothing a user cannot act on, and its banner's columns line up.
  for (const name of ['policy', 'shared', 'aws-lab', 'infra', 'upload', 'download', 'keyadmin']) {
    t.match(stack.output, new RegExp(`^\\[start\\] {3}built @kms-share/${name} +\\d+\\.\\d s`, 'm'), `a build-step line for ${name}, with its time`)
  }
  t.match(stack.output, /^\[start\] built in \d+\.\d s \(7 steps, \d unchanged\)$/m, 'and the whole build in one line')
  t.notMatch(stack.output, /^(?!\[start\] redis: ).*(WARNING|\(node:\d+\)|Warning:|NodeVersion|deprecat)/im, 'no warning a user cannot act on (Redis\'s overcommit notice said once, in words)')
  t.equal(stack.output.match(/^.*overcommit.*$/gm)?.length ?? 0, process.platform === 'linux' && readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim() !== '1' ? 1 : 0, 'the overcommit note at most once')
  const banner = stack.output.slice(stack.output.indexOf('[start] ready:')).split('\n').slice(1).filter((line) => /^ {2}[a-z]/.test(line))
  t.ok(banner.length >= 9, 'the banner has its rows')
  const valueColumns = new Set(banner.map((line) => /^ {2}(sign in|\S+) +/.exec(line)![0].length))
  t.same([...valueColumns], [12], 'every row\'s value starts in one column')
  const detailColumns = new Set(banner.filter((line) => /^ {2}(upload|download|keyadmin|lab|sign in) /.test(line)).map((line) => line.indexOf('  (') + 2))
  t.equal(detailColumns.size, 1, 'the details after the URLs start in one column')
  const upload = `http://127.0.0.1:${uploadPort}`
  const download = `http://127.0.0.1:${downloadPort}`
  t.match(stack.output, new RegExp(`upload\\s+${upload}/`), 'prints the upload URL')
  t.match(stack.output, new RegExp(`download\\s+${download}/`), 'prints the download URL')
  t.ok(existsSync(join(dir, 'lab', 'credentials')), 'LAB_DATA_DIR honoured')
  // Each service runs as its lab instance (start-isolation.test.ts checks what each one holds).
  const instances = JSON.parse(readFileSync(join(dir, 'lab', 'endpoints.json'), 'utf8')).instances
  t.match(stack.output, new RegExp(`upload\\s+${upload}/\\s+\\(instance ${instances.uploader.instanceId}, role kms-share-uploader`), "prints upload's instance and role")
  t.match(stack.output, new RegExp(`download\\s+${download}/\\s+\\(instance ${instances.downloader.instanceId}, role kms-share-downloader`), "prints download's instance and role")

  // Development tokens: plaintext in $LAB_DATA_DIR/tokens.json (0600) only; sign-in URLs printed, never a token; 401 without one.
  const tokensFile = join(dir, 'lab', 'tokens.json')
  t.equal(statSync(tokensFile).mode & 0o777, 0o600, 'tokens.json is 0600')
  const tokens = JSON.parse(readFileSync(tokensFile, 'utf8'))
  t.match(tokens, { upload: { scopes: ['upload'], token: /^kms_/ }, download: { scopes: ['download', 'cache:admin'], token: /^kms_/ }, keyadmin: { token: /^kms_/ } })
  // People sign in once at the lab's provider: one URL, the people's names, where their passwords are; no token anywhere in the output.
  t.match(stack.output, new RegExp(`sign in\\s+${upload}/\\s+\\(once, at the lab's OpenID Provider https://127\\.0\\.0\\.1:${labPort}/oidc`), 'prints one sign-in URL')
  t.notMatch(stack.output, /\/auth\/login/, 'and no other')
  t.match(stack.output, /people\s+admin \(admins, TOTP\), userA \(keyadmins, TOTP\), uploader \(uploaders, TOTP\), downloader \(downloaders\), keyadmin \(keyadmins, TOTP\), auditor \(auditors\)/, "prints the people's names and groups")
  const peopleFile = join(dir, 'lab', 'oidc', 'people.json')
  t.ok(stack.output.includes(peopleFile), 'says where the passwords are')
  t.equal(statSync(peopleFile).mode & 0o777, 0o600, 'people.json is 0600')
  const secrets = [
    ...['upload', 'download', 'keyadmin'].flatMap((service) => [tokens[service].token, tokens[service].sessionSecret]),
    ...JSON.parse(readFileSync(peopleFile, 'utf8')).people.map((p: { password: string }) => p.password),
    ...Object.values(JSON.parse(readFileSync(join(dir, 'lab', 'oidc', 'client-secrets.json'), 'utf8')) as Record<string, string>),
  ]
  for (const secret of secrets) t.notOk(stack.output.includes(secret), 'no token, session secret, password or client secret in the output')
  t.match(stack.output, /^\[start\] isolation: /m, 'says in one line what isolation there is')
  t.match(stack.output, process.getuid?.() === 0 ? /^ {2}isolation one user per service/m : /^ {2}isolation off — not root/m, 'and again in the ready banner')
  // The services are the provider's clients: the upload page sends a stranger there.
  const page = await fetch(`${upload}/`, { headers: { accept: 'text/html' }, redirect: 'manual' })
  t.equal(page.headers.get('location'), '/auth/login?next=%2F')
  const login = await fetch(`${upload}/auth/login?next=%2F`, { redirect: 'manual' })
  t.match(login.headers.get('location'), `https://127.0.0.1:${labPort}/oidc/auth?`)
  const asUploader = { authorization: `Bearer ${tokens.upload.token}` }
  const asDownloader = { authorization: `Bearer ${tokens.download.token}` }
  t.equal((await fetch(`${upload}/files`)).status, 401, 'upload: 401 without a token')
  t.equal((await fetch(`${download}/files`)).status, 401, 'download: 401 without a token')
  t.equal((await fetch(`${download}/files`, { headers: asUploader })).status, 401, "download does not know upload's token")

  const text = 'The KMS workshop sample file.\n'
  const put = await fetch(`${upload}/files/SampleFile-KMS.txt`, { method: 'PUT', body: text, headers: { 'content-type': 'text/plain', ...asUploader } })
  t.equal(put.status, 201)
  const stored: any = await put.json()
  t.match(stored, { sseAlgorithm: 'aws:kms', kmsKeyArn: /^arn:aws:kms:eu-west-1:111122223333:key\// })
  const got = await fetch(`${download}/files/SampleFile-KMS.txt`, { headers: asDownloader })
  t.equal(got.status, 200)
  t.equal(await got.text(), text)
  const cache: any = await (await fetch(`${download}/cache`, { headers: asDownloader })).json()
  t.ok(JSON.stringify(cache).includes('localfile-SampleFile-KMS.txt'), 'the localfile- entry is listed')
  t.ok(existsSync(join(dir, 'cache', 'localfile-SampleFile-KMS.txt')), 'CACHE_DIR honoured')
  // Each service holds only its own duty's credentials.
  const downloadWrite = await fetch(`${download}/files/x.txt`, { method: 'PUT', body: 'x', headers: asDownloader })
  t.not(downloadWrite.status, 201, 'download does not write')

  child.kill('SIGINT')
  const code = await Promise.race([stack.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))])
  t.equal(code, 0, 'SIGINT stops everything cleanly')
  const stillUp = await fetch(`${upload}/healthz`).then(() => true, () => false)
  t.equal(stillUp, false, 'upload stopped')
  const labUp = await fetch(`http://127.0.0.1:${labPort}/`).then(() => true, () => false)
  t.equal(labUp, false, 'lab stopped')
})

t.test('a port already taken: the stack stops, and its last line says what to do', async (t) => {
  const dir = t.testdir()
  const taken = createServer().listen(0, '127.0.0.1')
  await once(taken, 'listening')
  t.teardown(() => taken.close())
  const port = (taken.address() as AddressInfo).port
  const env: NodeJS.ProcessEnv = { ...process.env, LAB_DATA_DIR: join(dir, 'lab'), CACHE_DIR: join(dir, 'cache'), REDIS_DATA_DIR: join(dir, 'redis'), LAB_PORT: String(await freePort()), UPLOAD_PORT: String(port), DOWNLOAD_PORT: String(await freePort()), KEYADMIN_PORT: String(await freePort()), LOG_LEVEL: 'warn' }
  delete env.INIT_CWD
  const child = spawn(process.execPath, [join(root, 'scripts/start.mjs'), '--no-build'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (c: Buffer) => { output += c.toString() })
  child.stderr.on('data', (c: Buffer) => { output += c.toString() })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 1, 'start fails')
  // (upload's own exit code is checked in shared's serve.test.ts: under tap, its exit hook, loaded into every child, rewrites it here.)
  t.match(output, /^\[start\] upload exited \(\d+\); stopping the rest$/m, 'start notices upload has gone')
  const last = output.trimEnd().split('\n').at(-1)
  t.match(last, new RegExp(`^\\[start\\] stopped — port ${port} is taken: .*set UPLOAD_PORT to a free port, then run pnpm start again$`), 'the last line names the port and the variable to change')
})
