// keyadmin in docker-compose.yml and scripts/start.mjs, checked against the code: the command is the
// start script, every variable is in the config schema and validates, and the service runs as the
// keyadmin lab instance (metadata endpoint only: no profile, credentials or lab volume).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { loadConfig } from '@kms-share/keyadmin'

const root = fileURLToPath(new URL('../../', import.meta.url))
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, any> }
const seed = parse(readFileSync(join(root, 'packages/aws-lab/seed/default.yaml'), 'utf8')) as { instances: Array<{ name: string; role: string }> }
const service = compose.services.keyadmin
const env: Record<string, string> = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{\w+(?::?-([^}]*))?\}/g, (_m, d: string | undefined) => d ?? '')]))

t.test('the compose service runs dist/server.js in its folder as the keyadmin instance', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'services/keyadmin/package.json'), 'utf8'))
  t.equal(service.working_dir, '/app/services/keyadmin')
  t.equal(service.command.join(' '), pkg.scripts.start)
  const config = loadConfig(env)
  t.equal(config.PORT, 3003)
  t.equal(config.HOST, '0.0.0.0')
  t.equal(config.AWS_ENDPOINT_URL, 'https://lab:4566')
  for (const variable of ['AUTH_TOKENS', 'SESSION_SECRET', 'OIDC_ISSUER', 'OIDC_AUDIENCE']) t.ok(variable in env, `${variable} can be set from the shell`)
  const base = Number(compose.services.lab.environment.LAB_IMDS_PORT_BASE)
  const index = seed.instances.findIndex((i) => i.name === 'keyadmin')
  t.equal(seed.instances[index].role, 'kms-share-keyadmin')
  t.equal(env.AWS_EC2_METADATA_SERVICE_ENDPOINT, `http://lab:${base + index}/`)
  t.same(Object.keys(env).filter((k) => /^AWS_(PROFILE|SHARED_CREDENTIALS_FILE|CONFIG_FILE|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)$/.test(k)), [])
  t.notOk((service.volumes ?? []).some((v: string) => v.startsWith('lab-data')), 'no lab data')
  t.match(service.healthcheck.test.join(' '), /:3003\/readyz/)
})

t.test('pnpm start runs keyadmin as its instance with a development token', async (t) => {
  const start = readFileSync(join(root, 'scripts/start.mjs'), 'utf8')
  t.match(start, /run\('keyadmin', join\(root, 'services\/keyadmin\/dist\/server\.js'\), (?:withOidc\('keyadmin', )?\{\n\s+\.\.\.baseEnv\(\), \.\.\.serviceEnv\('keyadmin'\), PORT: String\(keyadminPort\), \.\.\.authEnv\('keyadmin', \['keys:read', 'keys:admin', 'audit:read'\]\)/)
  t.match(start, /--filter=@kms-share\/keyadmin/)
  t.match(start, /KEYADMIN_PORT \|\| 3003/)
})
