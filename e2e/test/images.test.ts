// One image per service: each Dockerfile target copies one `pnpm deploy` folder. This test runs each
// build stage's `pnpm deploy` line from the Dockerfile against this checkout (built, as the Dockerfile's
// build line leaves it), checks what each folder holds — its package's dist, the workspace packages it
// runs with and their production dependencies, nothing of another service, of the lab or of any
// devDependency — prints the sizes, leaves the checkout's own install as it was, and then runs the
// folders together as the compose stack runs the images: the lab's folder as the lab, upload, download
// and keyadmin from theirs as their instances, one file up and down again.
import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { compose, envOf, root } from './compose-helpers.js'
import { readImage, readStages, type Image } from './dockerfile-helpers.js'
import { eventually, freePort, scopedToken, scratchDir } from './helpers.js'

const stages = readStages()
const targets = ['upload', 'download', 'keyadmin', 'audit', 'lab'] as const
const images = Object.fromEntries(targets.map((target) => [target, readImage(target, stages)])) as Record<typeof targets[number], Image>

/** The workspace packages each image's folder may hold: its own and those it runs with, nothing else. */
const expected: Record<string, { package: string; workspace: string[]; top: string[] }> = {
  upload: { package: '@kms-share/upload', workspace: ['@kms-share/shared'], top: ['README.md', 'dist', 'node_modules', 'package.json'] },
  download: { package: '@kms-share/download', workspace: ['@kms-share/shared'], top: ['README.md', 'dist', 'node_modules', 'package.json'] },
  keyadmin: { package: '@kms-share/keyadmin', workspace: ['@kms-share/policy', '@kms-share/shared'], top: ['README.md', 'dist', 'node_modules', 'package.json'] },
  lab: { package: '@kms-share/aws-lab', workspace: ['@kms-share/policy'], top: ['README.md', 'dist', 'node_modules', 'package.json', 'seed'] },
}
/** Named for a readable failure; the closure check below catches any other. */
const devOnly = ['typescript', 'tap', 'tsx', 'esbuild', 'playwright-core', 'codemirror', '@codemirror/view', '@types/node', 'eslint', 'turbo', 'aws-cdk', 'aws-cdk-lib', 'cdk-nag']

/** The package and version a virtual-store folder holds (`@scope+name@1.2.3_peer@4` → @scope/name, 1.2.3). */
function storeEntry(dir: string): { name: string; version: string } {
  const at = dir.indexOf('@', 1)
  return { name: dir.slice(0, at).replace('+', '/'), version: dir.slice(at + 1).split('_')[0] }
}

/** name@version of every package in a workspace package's production dependency tree, as pnpm resolves it. */
function productionClosure(pkg: string): Set<string> {
  const listed = spawnSync('pnpm', ['--filter', pkg, 'list', '--prod', '--depth', 'Infinity', '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (listed.status !== 0) throw new Error(`pnpm list: ${listed.stderr}`)
  const seen = new Set<string>()
  const walk = (deps: Record<string, { version: string; dependencies?: Record<string, any> }> = {}) => {
    for (const [name, dep] of Object.entries(deps)) {
      const key = `${name}@${dep.version}`
      if (seen.has(key)) continue
      seen.add(key)
      walk(dep.dependencies)
    }
  }
  walk((JSON.parse(listed.stdout) as Array<{ dependencies?: Record<string, any> }>)[0].dependencies)
  return seen
}

/** Bytes of regular files under `dir` (hard links counted once), and how many. */
function size(dir: string, seen = new Set<number>()): { bytes: number; files: number } {
  let bytes = 0
  let files = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      const inner = size(path, seen)
      bytes += inner.bytes
      files += inner.files
    } else if (entry.isFile()) {
      const stat = lstatSync(path)
      if (seen.has(stat.ino)) continue
      seen.add(stat.ino)
      bytes += stat.size
      files++
    }
  }
  return { bytes, files }
}

/** What an install in the checkout looks like: every workspace package's node_modules entries. */
function checkoutInstall(): string {
  const packages = ['packages/shared', 'packages/policy', 'packages/aws-lab', 'services/upload', 'services/download', 'services/keyadmin', 'e2e']
  return packages.map((p) => `${p}: ${readdirSync(join(root, p, 'node_modules')).sort().join(' ')}`).join('\n')
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const deployed = new Map<string, string>()
// One folder for every deploy, kept until the file's last test has run the folders.
const deployRoot = scratchDir(t, 'kms-share-deploy-')
const before = { install: checkoutInstall(), status: spawnSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' }).stdout }

t.test('the Dockerfile: every image on Node 24, as the node user in /app, running its package from one deploy folder', async (t) => {
  for (const image of Object.values(images)) {
    t.equal(image.workdir, '/app', `${image.target} runs in /app`)
    t.equal(image.user, 'node', `${image.target} runs as node`)
    t.same(image.deployArgs.slice(0, 2), ['--filter', image.package], `${image.buildStage} deploys ${image.package}`)
    t.ok(image.deployArgs.includes('--prod'), `${image.buildStage}: production dependencies only`)
    t.same(image.buildArgs.slice(0, 2), ['--filter-prod', `${image.package}...`], `${image.buildStage} builds ${image.package} and what it runs with, never a devDependency's package`)
    t.ok(image.cmd?.[0] === 'node' && image.cmd.at(-1)?.startsWith('dist/'), `${image.target}: ${image.cmd?.join(' ')}`)
  }
  t.equal(images.audit.buildStage, images.keyadmin.buildStage, 'the audit worker is keyadmin\'s package, its own image and command')
  t.same(images.audit.cmd, ['node', 'dist/worker.js'])
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
  t.match(dockerfile, /^ARG NODE_IMAGE=node:24-/m, 'Node 24')
  t.same([...stages.values()].map((s) => s.from).filter((f) => f.startsWith('node:') || f === '${NODE_IMAGE}'), [...stages.values()].map((s) => s.from).filter((f) => !stages.has(f)), 'every stage starts from NODE_IMAGE or another stage')
})

t.test("each build stage's pnpm deploy: its package, what it runs with, nothing else", async (t) => {
  const rows: string[] = []
  for (const [target, want] of Object.entries(expected)) {
    const image = images[target as keyof typeof images]
    const out = join(deployRoot, target)
    const args = image.deployArgs.map((a) => (a === '/deploy' ? out : a))
    const started = Date.now()
    const run = spawnSync('pnpm', args, { cwd: root, encoding: 'utf8' })
    t.equal(run.status, 0, `pnpm ${args.join(' ')}: ${run.stderr.slice(-400)}`)
    deployed.set(target, out)
    const ms = Date.now() - started

    const top = readdirSync(out).filter((e) => !/^pnpm-(lock|workspace)\.yaml$/.test(e)).sort()
    t.same(top, want.top, `${target}: its dist (and package.json, README) only — no src, no tests`)
    t.equal(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')).name, want.package)
    t.same(readdirSync(join(out, 'node_modules/@kms-share')).map((n) => `@kms-share/${n}`).sort(), want.workspace, `${target} runs with ${want.workspace.join(', ')}`)
    for (const name of want.workspace) {
      // shared serves the pages' frame (CSS and scripts) from its assets folder.
      const shipped = name === '@kms-share/shared' ? ['README.md', 'assets', 'dist', 'package.json'] : ['README.md', 'dist', 'package.json']
      t.same(readdirSync(join(out, 'node_modules', name)).sort(), shipped, `${name} in ${target}: what it runs with only`)
    }
    const store = readdirSync(join(out, 'node_modules/.pnpm')).filter((d) => d !== 'node_modules' && !d.endsWith('.yaml') && !d.endsWith('.json'))
    const workspaceIn = store.filter((d) => d.startsWith('@kms-share+')).map((d) => storeEntry(d).name).sort()
    t.same(workspaceIn, want.workspace, `${target}: no other workspace package (no other service, no lab) anywhere in its store`)
    const closure = productionClosure(want.package)
    const outside = store.filter((d) => !d.startsWith('@kms-share+')).map(storeEntry).filter(({ name, version }) => !closure.has(`${name}@${version}`))
    t.same(outside, [], `${target}: every package is in ${want.package}'s production dependency tree`)
    const names = new Set(store.map((d) => storeEntry(d).name))
    t.same(devOnly.filter((n) => names.has(n)), [], `${target}: no build or test tool`)
    const total = size(out)
    const modules = size(join(out, 'node_modules'))
    rows.push(`${target.padEnd(9)} ${mib(total.bytes).padStart(10)} ${String(total.files).padStart(6)} files  node_modules ${mib(modules.bytes).padStart(10)}  ${String(store.length).padStart(4)} packages  (${ms} ms)`)
  }
  const oidcClients = envOf(compose.services.lab).LAB_OIDC_CLIENTS_FILE
  t.ok(existsSync(join(deployed.get('lab')!, oidcClients.replace(/^\/app\//, ''))), `the lab's folder holds compose's ${oidcClients}`)
  t.comment(`deploy folders (what each image adds to node:24-bookworm-slim):\n${rows.join('\n')}`)
  // The upload folder holds no download or keyadmin code by name either (its files are its own).
  const uploadDist = readdirSync(join(deployed.get('upload')!, 'dist'))
  t.notOk(uploadDist.some((f) => /^(cache|worker|keys)\./.test(f)), 'upload/dist has none of download\'s or keyadmin\'s modules')
})

t.test("pnpm deploy leaves the checkout's own install as it was (devDependencies included)", async (t) => {
  t.equal(checkoutInstall(), before.install, 'every workspace package keeps its node_modules entries')
  t.ok(existsSync(join(root, 'services/upload/node_modules/tap')), 'upload still has its test runner')
  const again = spawnSync('pnpm', ['install', '--frozen-lockfile', '--offline'], { cwd: root, encoding: 'utf8' })
  t.equal(again.status, 0, again.stderr)
  t.equal(checkoutInstall(), before.install, 'and so does the next pnpm install')
  t.equal(spawnSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' }).stdout, before.status, 'no tracked file changed')
})

/** A process from a deploy folder, as its image's CMD runs it, with only the given environment; killed at teardown. */
function runImage(t: Pick<Test, 'teardown'>, target: keyof typeof images, env: Record<string, string>): ChildProcess & { output: () => string } {
  const [command, ...args] = images[target].cmd!
  const child = spawn(command === 'node' ? process.execPath : command, args, { cwd: deployed.get(target === 'audit' ? 'keyadmin' : target), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGTERM') })
  return Object.assign(child, { output: () => output })
}

// A probe that throws is "not yet" (a port not listening yet).
const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000) =>
  eventually(() => Promise.resolve(probe()).catch(() => undefined), what, timeoutMs)

t.test('the folders run together as the images do: the lab, then upload, download and keyadmin as their instances', async (t) => {
  t.ok(deployed.size === 4, 'every folder was deployed')
  const home = scratchDir(t, 'kms-share-images-')
  const labPort = await freePort()
  // As the lab image runs it: HTTPS (the data stack's bucket refuses plain HTTP) and the synthesized templates it deploys at start.
  const lab = runImage(t, 'lab', { HOME: home, LAB_PORT: String(labPort), LAB_DATA_DIR: join(home, 'lab'), LAB_TLS: '1', LAB_TEMPLATE_DIR: join(root, 'infra/cdk.out') })
  const endpoints = await until('the lab', () => {
    const file = join(home, 'lab/endpoints.json')
    const read = () => JSON.parse(readFileSync(file, 'utf8')) as { endpoint: string; region: string; instances: Record<string, { role: string; instanceId: string; metadataEndpoint: string }>; stacks: Record<string, Record<string, string>> }
    // endpoints.json is written again once the stacks are deployed: their outputs are the last thing in it.
    return existsSync(file) ? fetch(`http://127.0.0.1:${labPort}/`).then(() => (read().stacks?.KmsShareData ? read() : undefined)) : undefined
  }, 60_000).catch((err: Error) => { throw new Error(`${err.message}\n${lab.output()}`) })
  const ca = join(home, 'lab/tls/ca.pem')
  const instance = (role: string) => Object.values(endpoints.instances).find((i) => i.role === role)!
  // Each service knows its own callers' token, as a deployment configures it.
  const tokens = { upload: scopedToken('upload', ['upload']), download: scopedToken('download', ['download']), keyadmin: scopedToken('keyadmin', ['keys:read']) }
  const as = (role: string, port: number, extra: Record<string, string> = {}) => ({
    HOME: home, HOST: '127.0.0.1', PORT: String(port), BUCKET: endpoints.stacks.KmsShareData.BucketName, AWS_REGION: endpoints.region,
    AWS_ENDPOINT_URL: endpoints.endpoint, NODE_EXTRA_CA_CERTS: ca, AWS_EC2_METADATA_SERVICE_ENDPOINT: instance(role).metadataEndpoint, ...extra,
  })
  const [uploadPort, downloadPort, keyadminPort] = [await freePort(), await freePort(), await freePort()]
  const services = [
    runImage(t, 'upload', as('kms-share-uploader', uploadPort, { KMS_KEY_ID: endpoints.stacks.KmsShareData.KeyArn, AUTH_TOKENS: tokens.upload.AUTH_TOKENS })),
    runImage(t, 'download', as('kms-share-downloader', downloadPort, { CACHE_DIR: join(home, 'cache'), AUTH_TOKENS: tokens.download.AUTH_TOKENS })),
    runImage(t, 'keyadmin', as('kms-share-keyadmin', keyadminPort, { AUTH_TOKENS: tokens.keyadmin.AUTH_TOKENS })),
  ]
  for (const [i, port] of [uploadPort, downloadPort, keyadminPort].entries()) {
    await until(`port ${port}`, () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => (r.ok ? true : undefined))).catch((err: Error) => { throw new Error(`${err.message}\n${services[i].output()}`) })
  }
  const form = new FormData()
  const body = `deployed ${Date.now()}\n`
  form.append('file', new Blob([body]), 'from-the-image.txt')
  const put = await fetch(`http://127.0.0.1:${uploadPort}/files`, { method: 'POST', headers: tokens.upload.auth, body: form })
  const answer = await put.json() as { key: string; sseAlgorithm: string | null }
  t.equal(put.status, 201, `upload as ${instance('kms-share-uploader').instanceId}: ${JSON.stringify(answer)}`)
  t.equal(answer.sseAlgorithm, 'aws:kms')
  const got = await fetch(`http://127.0.0.1:${downloadPort}/files/${encodeURIComponent(answer.key)}`, { headers: tokens.download.auth })
  t.equal(got.status, 200)
  t.equal(await got.text(), body, 'download as the downloader gets the same bytes')
  const keys = await fetch(`http://127.0.0.1:${keyadminPort}/keys`, { headers: tokens.keyadmin.auth })
  t.equal(keys.status, 200, 'keyadmin lists keys as the key administrator')
  t.match(JSON.stringify(await keys.json()), /alias\/ImportedCMK/)
})

t.test('the audit image: every module its worker imports is in the folder (it stops at its configuration)', async (t) => {
  const home = scratchDir(t, 'kms-share-images-audit-')
  const worker = runImage(t, 'audit', { HOME: home })
  const code = await new Promise<number | null>((resolve) => worker.once('exit', resolve))
  t.equal(code, 1)
  t.match(worker.output(), /invalid configuration/, 'it got as far as reading its configuration')
  t.notMatch(worker.output(), /ERR_MODULE_NOT_FOUND|Cannot find (package|module)/)
})
