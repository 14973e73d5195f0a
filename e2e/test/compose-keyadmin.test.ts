// keyadmin in docker-compose.yml, checked against the code (pnpm start's keyadmin is exercised by start-locked-checkout.test.ts): the command is the
// start script, every variable is in the config schema and validates (with the secrets
// compose-secrets.mjs writes), and the service runs as the keyadmin lab instance (metadata endpoint
// only: no profile, credentials or lab volume), with MFA on: userA's keys alone, from the lab.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '@kms-share/keyadmin'
import { compose, composeSecrets, deployedLab, envOf, root } from './compose-helpers.js'
import { readImage } from './dockerfile-helpers.js'

const { instances } = await deployedLab(t)
const service = compose.services.keyadmin
const env = envOf(service)
const { withSecrets } = composeSecrets(t)

t.test('the compose service runs dist/server.js in its folder as the keyadmin instance', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'services/keyadmin/package.json'), 'utf8'))
  t.equal(readImage(service.build.target).package, '@kms-share/keyadmin', 'its image deploys keyadmin\'s package')
  t.equal(service.command.join(' '), pkg.scripts.start)
  const config = loadConfig(withSecrets(env))
  t.equal(config.PORT, 3003)
  t.equal(config.HOST, '0.0.0.0')
  t.equal(config.AWS_ENDPOINT_URL, 'https://lab:4566')
  t.match(config.REDIS_URL, /^redis:\/\/kms-audit-reader:/, 'Redis as the reader user')
  t.match(config.AUDIT_VERIFY_KEY, /BEGIN PUBLIC KEY/, "the worker's public key")
  for (const variable of ['OIDC_ISSUER', 'OIDC_AUDIENCE']) t.ok(variable in env, `${variable} can be set from the shell`)
  const base = Number(compose.services.lab.environment.LAB_IMDS_PORT_BASE)
  const index = instances.findIndex((i) => i.name === 'keyadmin')
  t.equal(instances[index]?.role, 'kms-share-keyadmin')
  t.equal(env.AWS_EC2_METADATA_SERVICE_ENDPOINT, `http://lab-imds-keyadmin:${base + index}/`)
  // MFA on: sensitive operations as userA, whose keys alone the lab exports to a volume only keyadmin mounts.
  t.match(config, { KEYADMIN_MFA_PROFILE: 'userA', KEYADMIN_MFA_SERIAL: 'arn:aws:iam::111122223333:mfa/userA' })
  const exported = /^userA=(.+)$/.exec(compose.services.lab.environment.LAB_PROFILE_EXPORT)![1]
  t.equal(config.KEYADMIN_MFA_CREDENTIALS_FILE, exported, 'reads the file the lab exports')
  const holders = Object.entries(compose.services).filter(([, s]) => (s.volumes ?? []).some((v: string) => v.startsWith('keyadmin-mfa:'))).map(([n]) => n).sort()
  t.same(holders, ['keyadmin', 'lab'], 'the volume is the lab\'s and keyadmin\'s alone')
  t.ok((service.volumes as string[]).includes(`keyadmin-mfa:${exported.replace(/\/credentials$/, '')}:ro`), 'keyadmin mounts it read-only')
  t.same(Object.keys(env).filter((k) => /^AWS_(PROFILE|SHARED_CREDENTIALS_FILE|CONFIG_FILE|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)$/.test(k)), [])
  t.notOk((service.volumes ?? []).some((v: string) => v.startsWith('lab-data')), 'no lab data')
  t.match(service.healthcheck.test.join(' '), /:3003\/readyz/)
})
