// `cdk synth` as the README and CI run it: offline, without an account or credentials, every stack written to
// cdk.out; and cdk-nag stops a synth with a finding nobody acknowledged.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Stack } from 'aws-cdk-lib'
import * as s3 from 'aws-cdk-lib/aws-s3'
import { AWS_ONLY_STACKS, LAB_STACKS, buildKmsShareApp, newKmsShareApp } from '../src/kms-share-app.js'

const infra = join(import.meta.dirname, '..')

t.test('cdk synth works offline, with no AWS account or credentials', async (t) => {
  const out = t.testdir()
  const home = t.testdir()
  const started = Date.now()
  const run = spawnSync(join(infra, 'node_modules/.bin/cdk'), ['synth', '--quiet', '--output', out], {
    cwd: infra,
    encoding: 'utf8',
    timeout: 240_000,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      // No credentials anywhere, and any attempt to reach the network fails at once.
      AWS_CONFIG_FILE: join(home, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
      AWS_EC2_METADATA_DISABLED: 'true',
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      CDK_DISABLE_CLI_TELEMETRY: 'true',
    },
  })
  t.comment(`cdk synth took ${((Date.now() - started) / 1000).toFixed(1)} s`)
  t.equal(run.status, 0, 'cdk synth exits 0', { stderr: run.status === 0 ? '' : run.stderr })
  for (const stack of [...LAB_STACKS, ...AWS_ONLY_STACKS]) t.ok(existsSync(join(out, `${stack}.template.json`)), `${stack}.template.json`)
  const report = JSON.parse(readFileSync(join(out, 'validation-report.json'), 'utf8')) as { pluginReports: Array<{ pluginName: string; violations: unknown[] }> }
  for (const plugin of report.pluginReports) t.same(plugin.violations, [], `${plugin.pluginName}: no unacknowledged findings`)
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { missing?: unknown[]; artifacts: Record<string, { type: string; properties?: Record<string, unknown> }> }
  t.equal(manifest.missing, undefined, 'no context lookups left to do in an account')
  for (const [name, artifact] of Object.entries(manifest.artifacts)) {
    if (artifact.type !== 'aws:cloudformation:stack') continue
    t.match(artifact.properties, { templateFile: `${name}.template.json` })
    t.notOk(artifact.properties?.assumeRoleArn ?? artifact.properties?.cloudFormationExecutionRoleArn ?? artifact.properties?.stackTemplateAssetObjectUrl, `${name}: deployed with the deployer's credentials, no bootstrap roles or template bucket`)
  }
})

t.test('cdk-nag runs on every synth: a finding nobody acknowledged fails it', async (t) => {
  const app = newKmsShareApp({}, t.testdir())
  buildKmsShareApp(app)
  new s3.Bucket(new Stack(app, 'Probe'), 'PlainBucket')
  t.throws(() => app.synth(), /Validation failed/)
  const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }>
  }
  const violations = report.pluginReports.flatMap((p) => p.violations)
  t.ok(violations.some((v) => v.ruleName.includes('AwsSolutions-S10')), 'the plain bucket does not require TLS')
  t.same(violations.flatMap((v) => v.violatingConstructs.map((c) => c.constructPath.split('/')[0])).filter((s) => s !== 'Probe'), [], 'and only the probe is reported')
})
