// The root `pnpm start` (scripts/start.mjs): the whole stack from the lab's files, the
// workshop's round trip through curl-like requests, and Ctrl-C (SIGINT) stopping everything.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '@kms-share/aws-lab/testing'

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
  const child = spawn(process.execPath, [join(root, 'scripts/start.mjs'), '--no-build'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 120_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('[start] ready:')) { clearTimeout(timer); resolve(true) }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    void exited.then(() => resolve(false))
  })
  t.ok(ready, 'the stack reports ready')
  if (!ready) { t.comment(output); return }
  const upload = `http://127.0.0.1:${uploadPort}`
  const download = `http://127.0.0.1:${downloadPort}`
  t.match(output, new RegExp(`upload\\s+${upload}/`), 'prints the upload URL')
  t.match(output, new RegExp(`download\\s+${download}/`), 'prints the download URL')
  t.ok(existsSync(join(dir, 'lab', 'credentials')), 'LAB_DATA_DIR honoured')
  // Each service runs as its lab instance (start-isolation.test.ts checks what each one holds).
  const instances = JSON.parse(readFileSync(join(dir, 'lab', 'endpoints.json'), 'utf8')).instances
  t.match(output, new RegExp(`upload\\s+${upload}/\\s+\\(instance ${instances.uploader.instanceId}, role kms-share-uploader`), "prints upload's instance and role")
  t.match(output, new RegExp(`download\\s+${download}/\\s+\\(instance ${instances.downloader.instanceId}, role kms-share-downloader`), "prints download's instance and role")

  // Development tokens: plaintext in $LAB_DATA_DIR/tokens.json (0600) only; sign-in URLs printed, never a token; 401 without one.
  const tokensFile = join(dir, 'lab', 'tokens.json')
  t.equal(statSync(tokensFile).mode & 0o777, 0o600, 'tokens.json is 0600')
  const tokens = JSON.parse(readFileSync(tokensFile, 'utf8'))
  t.match(tokens, { upload: { scopes: ['upload'], token: /^kms_/ }, download: { scopes: ['download', 'cache:admin'], token: /^kms_/ }, keyadmin: { token: /^kms_/ } })
  t.match(output, new RegExp(`sign in\\s+upload\\s+${upload}/auth/login\n\\s+download\\s+${download}/auth/login\n`), 'prints the sign-in URLs')
  for (const service of ['upload', 'download', 'keyadmin']) {
    t.notOk(output.includes(tokens[service].token), `${service}'s token is not printed`)
    t.notOk(output.includes(tokens[service].sessionSecret), `${service}'s session secret is not printed`)
  }
  t.match(output, /^\[start\] isolation: /m, 'says in one line what isolation there is')
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
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))])
  t.equal(code, 0, 'SIGINT stops everything cleanly')
  const stillUp = await fetch(`${upload}/healthz`).then(() => true, () => false)
  t.equal(stillUp, false, 'upload stopped')
  const labUp = await fetch(`http://127.0.0.1:${labPort}/`).then(() => true, () => false)
  t.equal(labUp, false, 'lab stopped')
})
