// The lab process's configuration (src/config.ts): the LAB_* variables the README documents, their
// defaults, and a bad value refused with the variable named — by `pnpm lab` itself too, which says so
// in one line and exits 2 before it starts anything.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { loadLabConfig, WORKSPACE_TEMPLATE_DIR } from '../src/config.js'

const packageDir = join(import.meta.dirname, '..')

t.test('defaults: 127.0.0.1:4566, .lab where pnpm lab was typed, the standard metadata ports, OIDC on, TLS off', async (t) => {
  const config = loadLabConfig({ INIT_CWD: '/work/here' })
  t.match(config, {
    host: '127.0.0.1', port: 4566, invokedFrom: '/work/here', dataDir: '/work/here/.lab', cloudTrailDelaySeconds: 0,
    imdsPortBase: 4510, imdsCredentialsTtlSeconds: 21_600, tls: undefined, oidc: { clients: [], accessTokenTtlSeconds: 600 }, profileExports: {},
  })
  t.equal(loadLabConfig({ INIT_CWD: '/w', LAB_PORT: '0' }).imdsPortBase, 0, 'any other lab port: free metadata ports')
  t.equal(loadLabConfig({ INIT_CWD: '/w', LAB_OIDC: 'off' }).oidc, undefined)
  // `pnpm build` synthesizes infra into the workspace's infra/cdk.out: the lab deploys from there unless told otherwise.
  t.equal(config.templateDir, existsSync(WORKSPACE_TEMPLATE_DIR) ? WORKSPACE_TEMPLATE_DIR : undefined, 'the workspace\'s synthesized templates, when built')
  t.equal(loadLabConfig({ INIT_CWD: '/w', LAB_TEMPLATE_DIR: 'none' }).templateDir, undefined, 'LAB_TEMPLATE_DIR=none: deploy nothing')
})

t.test('each variable lands where startLab reads it; relative paths from INIT_CWD', async (t) => {
  const dir = t.testdir({ 'clients.json': JSON.stringify([{ client_id: 'share', redirect_uris: ['https://x/cb'] }]), 'templates': {} })
  const config = loadLabConfig({
    INIT_CWD: dir, LAB_HOST: '0.0.0.0', LAB_PORT: '4600', LAB_DATA_DIR: 'state', LAB_CLOUDTRAIL_DELAY_SECONDS: '1.5',
    LAB_IMDS_PORT_BASE: '5000', LAB_IMDS_HOST: 'lab', LAB_IMDS_CREDENTIALS_TTL_SECONDS: '900',
    LAB_IMDS_BIND: 'uploader=10.0.1.2, *=127.0.0.1', LAB_IMDS_OWNERS: 'uploader=64511,*=0',
    LAB_TLS: 'yes', LAB_TLS_HOSTNAMES: 'lab, lab.localhost', LAB_TLS_CA_EXPORT: 'ca/ca.pem',
    LAB_OIDC_CLIENTS_FILE: 'clients.json', LAB_OIDC_ISSUER: 'https://lab.localhost:4566/oidc', LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS: '60',
    LAB_PROFILE_EXPORT: 'userA=mfa/credentials', LAB_TEMPLATE_DIR: 'templates', LAB_STACK_OUTPUTS_EXPORT: 'outputs',
  })
  t.same(config, {
    host: '0.0.0.0', port: 4600, invokedFrom: dir, dataDir: join(dir, 'state'), cloudTrailDelaySeconds: 1.5,
    imdsPortBase: 5000, imdsAdvertisedHost: 'lab', imdsCredentialsTtlSeconds: 900,
    imdsBind: { 'uploader': '10.0.1.2', '*': '127.0.0.1' }, imdsOwners: { 'uploader': 64511, '*': 0 },
    tls: { hostnames: ['lab', 'lab.localhost'] },
    oidc: { clients: [{ client_id: 'share', redirect_uris: ['https://x/cb'] }], accessTokenTtlSeconds: 60, issuer: 'https://lab.localhost:4566/oidc' },
    caExport: join(dir, 'ca/ca.pem'),
    profileExports: { userA: join(dir, 'mfa/credentials') },
    templateDir: join(dir, 'templates'),
    stackOutputsExport: join(dir, 'outputs'),
  })
})

t.test('a bad value is refused with the variable named and what it takes', async (t) => {
  const dir = t.testdir({ 'object.json': '{"client_id":"x"}' })
  const refusals: Array<[Record<string, string>, string | RegExp]> = [
    [{ LAB_CLOUDTRAIL_DELAY_SECONDS: '-1' }, 'LAB_CLOUDTRAIL_DELAY_SECONDS must be a number of seconds ≥ 0, got "-1"'],
    [{ LAB_IMDS_PORT_BASE: '70000' }, 'LAB_IMDS_PORT_BASE must be a port number (0 = any free port), got "70000"'],
    [{ LAB_IMDS_CREDENTIALS_TTL_SECONDS: '1' }, 'LAB_IMDS_CREDENTIALS_TTL_SECONDS must be between 2 and 43200, got "1"'],
    [{ LAB_IMDS_OWNERS: 'uploader=me' }, 'LAB_IMDS_OWNERS takes name=value entries separated by commas (* for the rest, where it applies), got "uploader=me"'],
    [{ LAB_IMDS_BIND: 'uploader' }, 'LAB_IMDS_BIND takes name=value entries separated by commas (* for the rest, where it applies), got "uploader"'],
    [{ LAB_PROFILE_EXPORT: '=file' }, 'LAB_PROFILE_EXPORT takes name=value entries separated by commas (* for the rest, where it applies), got "=file"'],
    [{ LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS: '10' }, 'LAB_OIDC_ACCESS_TOKEN_TTL_SECONDS must be between 30 and 86400, got "10"'],
    [{ LAB_OIDC_CLIENTS_FILE: 'object.json' }, 'LAB_OIDC_CLIENTS_FILE object.json: not a JSON list'],
    [{ LAB_OIDC_CLIENTS_FILE: 'missing.json' }, /^LAB_OIDC_CLIENTS_FILE missing\.json: ENOENT/],
    [{ LAB_TEMPLATE_DIR: 'no-such-folder' }, `LAB_TEMPLATE_DIR ${join(dir, 'no-such-folder')} does not exist (pnpm --filter @kms-share/infra build synthesizes infra/cdk.out)`],
  ]
  for (const [env, message] of refusals) {
    t.throws(() => loadLabConfig({ INIT_CWD: dir, ...env }), { name: 'LabConfigError', message }, Object.keys(env)[0])
  }
})

t.test('pnpm lab with a bad value: one line naming the variable, exit 2, nothing started', async (t) => {
  const dir = t.testdir()
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: packageDir,
    env: { PATH: process.env.PATH, INIT_CWD: dir, LAB_PORT: '0', LAB_IMDS_CREDENTIALS_TTL_SECONDS: '99999' },
    encoding: 'utf8',
    timeout: 60_000,
  })
  t.equal(run.status, 2, run.stderr)
  t.equal(run.stderr, 'aws-lab: LAB_IMDS_CREDENTIALS_TTL_SECONDS must be between 2 and 43200, got "99999"\n')
  t.equal(run.stdout, '')
  t.same(readdirSync(dir), [], 'no data folder made')
})
