// People's sign-in on AWS (issue 24, item 6): the Cognito user pool, its groups and app clients in the AWS-only
// KmsShareSignIn stack, and how each service's instances get their OIDC settings and client secret — checked on
// the synthesized CloudFormation, in the lab's account and region.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Match } from 'aws-cdk-lib/assertions'
import { evaluate, normalizePolicy, serviceRole, type NamedPolicy } from '@kms-share/policy'
import { DEFAULT_SCOPE_MAP, authConfigProperties, parseScopeMap } from '@kms-share/shared'
import { PERSON_GROUPS, SCOPE_MAP, SERVICE_SCOPES } from '../src/constructs/share-sign-in.js'
import { AWS_ONLY_STACKS, LAB_STACKS } from '../src/kms-share-app.js'
import { bootScript } from '../src/user-data.js'
import { ACCOUNT, REGION, resolver, resourcesOfType, synthesize } from './helpers/synth.js'

const synth = synthesize(join(t.testdir(), 'out'))
const { json } = synth
const signIn = json.KmsShareSignIn
const template = synth.templates.KmsShareSignIn
const WEB = ['upload', 'download', 'keyadmin'] as const
const URLS = { UploadUrl: 'https://upload.share.example.com', DownloadUrl: 'https://download.share.example.com', KeyadminUrl: 'https://keyadmin.share.example.com' }
const deployed = resolver(json, URLS)
const resolved = (value: unknown) => deployed.resolve(signIn, value)
const ofType = (type: string) => Object.entries(signIn.Resources).filter(([, r]) => r.Type === type)
const clientNamed = (name: string) => {
  const found = ofType('AWS::Cognito::UserPoolClient').find(([, r]) => r.Properties.ClientName === name)
  if (!found) throw new Error(`no app client ${name}`)
  return { id: found[0], properties: resolved(found[1].Properties) }
}
/** Each service's published OIDC settings, as its instances read them. */
const environment = (duty: (typeof WEB)[number], parameters: Record<string, string> = {}) => {
  const [, parameter] = ofType('AWS::SSM::Parameter').find(([, r]) => r.Properties.Name === `/kms-share/sign-in/${duty}/environment`)!
  return JSON.parse(resolver(json, { ...URLS, ...parameters }).resolve(signIn, parameter.Properties.Value)) as Record<string, string>
}

t.test('an AWS-only stack of its own, which no stack the lab deploys references', async (t) => {
  t.ok((AWS_ONLY_STACKS as readonly string[]).includes('KmsShareSignIn'))
  for (const name of LAB_STACKS) t.notMatch(JSON.stringify(json[name]), /KmsShareSignIn/, `${name} imports nothing from it`)
  t.same(Object.values(signIn.Outputs ?? {}).filter((o) => o.Export), [], 'and exports nothing')
  // Why a stack of its own: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html (TemplateBody: 51,200 bytes)
  const edgeAndSignIn = JSON.stringify(json.KmsShareEdge, null, 1).length + JSON.stringify(signIn, null, 1).length
  t.comment(`the edge and sign-in templates together: ${edgeAndSignIn} bytes (inline limit 51,200)`)
  t.same(synth.stacks.compute.dependencies.map((s) => s.stackName).includes('KmsShareSignIn'), true, 'compute deploys after it, so instances find their settings at first boot')
})

t.test('the user pool: TOTP MFA required by default (optional by the UserMfa parameter), strong passwords, threat protection', async (t) => {
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cognito-userpool.html
  template.hasResource('AWS::Cognito::UserPool', {
    DeletionPolicy: 'Retain',
    Properties: Match.objectLike({
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      DeletionProtection: 'ACTIVE',
      UserPoolTier: 'PLUS',
      UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
      UsernameAttributes: ['email'],
      Policies: { PasswordPolicy: Match.objectLike({ RequireLowercase: true, RequireUppercase: true, RequireNumbers: true, RequireSymbols: true, PasswordHistorySize: 5 }) },
    }),
  })
  const [[, pool]] = ofType('AWS::Cognito::UserPool')
  t.ok(pool.Properties.Policies.PasswordPolicy.MinimumLength >= 14, 'at least 14 characters')
  t.equal(resolver(json).resolve(signIn, pool.Properties.MfaConfiguration), 'ON', 'by default every person signs in with TOTP')
  t.equal(resolver(json, { UserMfa: 'optional' }).resolve(signIn, pool.Properties.MfaConfiguration), 'OPTIONAL', 'UserMfa=optional')
  t.match(signIn.Parameters!.UserMfa, { Type: 'String', Default: 'required', AllowedValues: ['required', 'optional'] })
})

t.test("a group per duty, named as the services' default OIDC_SCOPE_MAP names them, with the same scopes", async (t) => {
  const groups = ofType('AWS::Cognito::UserPoolGroup').map(([, r]) => r.Properties.GroupName as string)
  const defaults = parseScopeMap(DEFAULT_SCOPE_MAP)
  t.same(groups.sort(), [...defaults.keys()].sort(), 'uploaders, downloaders, keyadmins, auditors, admins')
  t.same(parseScopeMap(SCOPE_MAP), defaults, 'the published OIDC_SCOPE_MAP gives each group what the default does')
  for (const duty of WEB) t.equal(environment(duty).OIDC_SCOPE_MAP, SCOPE_MAP)
  const serviceScopes = new Set(Object.values(SERVICE_SCOPES).flat())
  for (const group of PERSON_GROUPS) t.ok(group.scopes.every((s) => serviceScopes.has(s)), `${group.name}: only scopes some service knows`)
})

t.test('the managed-login domain: kms-share-<account> unless a prefix is given, branded per app client', async (t) => {
  const [[, domain]] = ofType('AWS::Cognito::UserPoolDomain')
  t.equal(resolver(json).resolve(signIn, domain.Properties.Domain), `kms-share-${ACCOUNT}`)
  t.equal(resolver(json, { SignInDomainPrefix: 'acme-files' }).resolve(signIn, domain.Properties.Domain), 'acme-files')
  t.equal(domain.Properties.ManagedLoginVersion, 2, 'the newer managed login')
  const branded = ofType('AWS::Cognito::ManagedLoginBranding').map(([, r]) => resolved(r.Properties.ClientId))
  t.same(branded.sort(), WEB.map((duty) => `<${clientNamed(`kms-share-${duty}`).id}>`).sort(), "every service's client has its sign-in style")
  t.equal(resolver(json).resolve(signIn, signIn.Outputs!.TokenEndpoint.Value), `https://kms-share-${ACCOUNT}.auth.${REGION}.amazoncognito.com/oauth2/token`)
})

t.test("one confidential client per service: the code flow, its own callback and sign-out URL under the load balancer's domain, refresh tokens", async (t) => {
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cognito-userpoolclient.html
  for (const duty of WEB) {
    const { properties: c } = clientNamed(`kms-share-${duty}`)
    const url = `https://${duty}.share.example.com`
    t.same(c.AllowedOAuthFlows, ['code'], `${duty}: authorization code only (no implicit)`)
    t.equal(c.AllowedOAuthFlowsUserPoolClient, true)
    t.same(c.AllowedOAuthScopes, ['openid', 'email', 'profile'])
    t.same(c.CallbackURLs, [`${url}/auth/callback`], `${duty}: its callback`)
    t.same(c.LogoutURLs, [`${url}/auth/signed-out`], `${duty}: its sign-out URL`)
    t.equal(c.GenerateSecret, true, 'confidential')
    t.same(c.SupportedIdentityProviders, ['COGNITO'])
    t.same(c.ExplicitAuthFlows.sort(), ['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_SRP_AUTH'], 'refresh tokens; no plain-password or custom flows')
    t.equal(c.EnableTokenRevocation, true)
    t.equal(c.PreventUserExistenceErrors, 'ENABLED')
    t.same([c.AccessTokenValidity, c.IdTokenValidity, c.RefreshTokenValidity, c.TokenValidityUnits], [15, 15, 480, { AccessToken: 'minutes', IdToken: 'minutes', RefreshToken: 'minutes' }])
    const env = environment(duty)
    t.equal(env.OIDC_REDIRECT_URI, `${url}/auth/callback`, `${duty} sends the callback its client registers`)
    t.equal(env.OIDC_POST_LOGOUT_REDIRECT_URI, `${url}/auth/signed-out`)
  }
  // The URLs are the ones the edge stack published, read at deploy time.
  t.match(signIn.Parameters!.UploadUrl, { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/kms-share/edge/upload-url' })
  const published = resourcesOfType(json, 'AWS::SSM::Parameter').filter((p) => p.stack === 'KmsShareEdge').map((p) => p.resource.Properties.Name)
  for (const duty of WEB) t.ok(published.includes(signIn.Parameters![`${duty.charAt(0).toUpperCase()}${duty.slice(1)}Url`].Default), `the edge stack publishes ${duty}'s URL`)
})

t.test("scripts: a client-credentials client per service, limited to that service's scopes on the kms-share resource server", async (t) => {
  const [[, server]] = ofType('AWS::Cognito::UserPoolResourceServer')
  t.equal(server.Properties.Identifier, 'kms-share')
  t.same(server.Properties.Scopes.map((s: { ScopeName: string }) => s.ScopeName).sort(), [...new Set(Object.values(SERVICE_SCOPES).flat())].sort())
  for (const duty of WEB) {
    const { id, properties: c } = clientNamed(`kms-share-${duty}-scripts`)
    t.same(c.AllowedOAuthFlows, ['client_credentials'], `${duty}: client credentials only`)
    t.same(c.AllowedOAuthScopes, SERVICE_SCOPES[duty].map((s) => `kms-share/${s}`), `${duty}: its own scopes and no other service's`)
    t.equal(c.GenerateSecret, true)
    t.same(c.ExplicitAuthFlows, ['ALLOW_REFRESH_TOKEN_AUTH'], 'no person signs in through it')
    t.equal(c.CallbackURLs, undefined)
    const env = environment(duty)
    t.equal(env.OIDC_AUDIENCE, `<${id}>`, `${duty} accepts its scripts' tokens (client_id) and no other client's`)
    t.equal(env.OIDC_SCOPE_PREFIX, 'kms-share/', 'and reads kms-share/<scope> as <scope>')
  }
})

t.test("each service's OIDC settings: the pool's issuer, cognito:groups, its own client — and keys the services' config accepts", async (t) => {
  const [[poolId]] = ofType('AWS::Cognito::UserPool')
  for (const duty of WEB) {
    const env = environment(duty)
    t.equal(env.OIDC_ISSUER, `https://cognito-idp.${REGION}.amazonaws.com/<${poolId}>`, `${duty}: https://cognito-idp.<region>.amazonaws.com/<pool id>`)
    t.equal(env.OIDC_GROUPS_CLAIM, 'cognito:groups')
    t.equal(env.OIDC_CLIENT_ID, `<${clientNamed(`kms-share-${duty}`).id}>`, `${duty}: its own client`)
    t.equal(env.OIDC_STEP_UP_ACR_VALUES, '', 'no acr_values unless StepUpAcrValues is given')
    t.equal(environment(duty, { StepUpAcrValues: 'urn:cognito:loa:2' }).OIDC_STEP_UP_ACR_VALUES, 'urn:cognito:loa:2')
    for (const key of Object.keys(env)) t.ok(Object.hasOwn(authConfigProperties, key), `${key} is a setting the services read`)
    t.notOk(Object.keys(env).some((k) => /SECRET/.test(k)), 'no secret among them')
  }
})

t.test('client secrets: copied by CloudFormation into one secret per service, never into a template, a parameter or user data', async (t) => {
  for (const duty of WEB) {
    const [, secret] = ofType('AWS::SecretsManager::Secret').find(([, r]) => r.Properties.Name === `kms-share/${duty}/oidc-client`)!
    t.same(secret.Properties.SecretString, { 'Fn::GetAtt': [clientNamed(`kms-share-${duty}`).id, 'ClientSecret'] }, `${duty}: its own client's secret`)
  }
  // The only places a client secret is read: those three secrets.
  const reads = JSON.stringify(json).match(/"ClientSecret"/g) ?? []
  t.equal(reads.length, 3)
  for (const [, p] of ofType('AWS::SSM::Parameter')) t.notMatch(JSON.stringify(p), /ClientSecret/)
  for (const o of Object.values(signIn.Outputs ?? {})) t.notMatch(JSON.stringify(o), /ClientSecret/)
  for (const { resource } of resourcesOfType(json, 'AWS::EC2::LaunchTemplate')) {
    t.notMatch(JSON.stringify(resource.Properties.LaunchTemplateData.UserData), /OIDC_CLIENT_SECRET=|ClientSecret/, 'the instance reads the secret at boot, into a file')
  }
})

/** The sign-in policies attached to a role by name, as IAM evaluates them. */
function signInPolicies(roleName: string): NamedPolicy[] {
  return ofType('AWS::IAM::Policy').map(([, p]) => resolved(p.Properties))
    .filter((p) => p.Roles.includes(roleName))
    .map((p) => ({ name: p.PolicyName, document: normalizePolicy(p.PolicyDocument) }))
}

t.test("each service's role reads its own client secret and settings, and no other service's (IAM evaluation)", async (t) => {
  const secretArn = (duty: string) => {
    const [id] = ofType('AWS::SecretsManager::Secret').find(([, r]) => r.Properties.Name === `kms-share/${duty}/oidc-client`)!
    return `<${id}>`
  }
  const may = (duty: (typeof WEB)[number], action: string, resource: string) => {
    const roleName = serviceRole(duty).roleName
    return evaluate({
      request: {
        principal: { arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/i-0123456789abcdef0`, type: 'assumed-role', accountId: ACCOUNT, roleArn: `arn:aws:iam::${ACCOUNT}:role/${roleName}` },
        action,
        resource,
        context: { 'aws:PrincipalAccount': ACCOUNT },
      },
      identityPolicies: signInPolicies(roleName),
      resourceAccount: ACCOUNT,
    }).decision
  }
  for (const duty of WEB) {
    t.equal(signInPolicies(serviceRole(duty).roleName).length, 1, `${duty}: one sign-in policy`)
    for (const other of WEB) {
      const own = duty === other
      t.equal(may(duty, 'secretsmanager:GetSecretValue', secretArn(other)), own ? 'Allowed' : 'ImplicitlyDenied', `${duty} reading ${other}'s client secret`)
      const parameter = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/kms-share/sign-in/${other}/environment`
      t.equal(may(duty, 'ssm:GetParameter', parameter), own ? 'Allowed' : 'ImplicitlyDenied', `${duty} reading ${other}'s settings`)
    }
    t.equal(may(duty, 'secretsmanager:PutSecretValue', secretArn(duty)), 'ImplicitlyDenied', 'read only')
  }
  t.equal(signInPolicies(serviceRole('audit').roleName).length, 0, 'the audit worker has no sign-in')
})

t.test('the boot script puts the settings in the env file and the secret in a file only the container user reads', async (t) => {
  const dir = t.testdir({ bin: {} })
  const bin = join(dir, 'bin')
  // A stand-in for the AWS CLI, answering as AWS would for this instance's two reads (or ParameterNotFound).
  writeFileSync(join(bin, 'aws'), `#!/bin/bash
case "$*" in
  "ssm get-parameter --name /kms-share/sign-in/upload/environment --query Parameter.Value --output text")
    [ -f "${dir}/no-parameter" ] && { echo 'An error occurred (ParameterNotFound) when calling the GetParameter operation' >&2; exit 254; }
    echo '{"OIDC_ISSUER":"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc","OIDC_CLIENT_ID":"client1","OIDC_STEP_UP_ACR_VALUES":""}' ;;
  "secretsmanager get-secret-value --secret-id kms-share/upload/oidc-client --query SecretString --output text") echo 's3cr3t-from-cognito' ;;
  *) echo "unexpected: aws $*" >&2; exit 1 ;;
esac
`, { mode: 0o755 })
  const etc = join(dir, 'etc')
  const lines = bootScript({ duty: 'upload', image: 'kms-share/upload:1', accountId: ACCOUNT, region: REGION, urlSuffix: 'amazonaws.com', environment: {} })
  const start = lines.findIndex((l) => l === "oidc_mount=''")
  const end = lines.indexOf('fi', start)
  t.ok(start > 0 && end > start, 'the sign-in part of the boot script')
  const run = () => {
    mkdirSync(etc, { recursive: true })
    writeFileSync(join(etc, 'upload.env'), '')
    const script = ['set -euo pipefail', ...lines.slice(start, end + 1), 'echo "mount=$oidc_mount"'].join('\n').replaceAll('/etc/kms-share', etc)
    return spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH}` } })
  }
  const first = run()
  t.equal(first.status, 0, 'runs', { stderr: first.stderr })
  const env = readFileSync(join(etc, 'upload.env'), 'utf8')
  t.match(env, /^OIDC_ISSUER=https:\/\/cognito-idp\.eu-west-1\.amazonaws\.com\/eu-west-1_Abc$/m)
  t.match(env, /^OIDC_CLIENT_ID=client1$/m)
  t.match(env, /^OIDC_CLIENT_SECRET_FILE=\/run\/secrets\/oidc-client-secret$/m)
  t.notMatch(env, /OIDC_STEP_UP_ACR_VALUES/, 'an empty setting is left out (the services refuse an empty one)')
  t.notMatch(env, /s3cr3t/, 'the secret is not in the env file')
  const secretFile = join(etc, 'upload-oidc-client-secret')
  t.equal(readFileSync(secretFile, 'utf8').trim(), 's3cr3t-from-cognito')
  t.equal(statSync(secretFile).mode & 0o777, 0o400, 'read-only, for its owner only')
  t.equal(statSync(secretFile).uid, 1000, "owned by the image's node user")
  t.match(first.stdout, `mount=-v ${secretFile}:/run/secrets/oidc-client-secret:ro`)

  writeFileSync(join(dir, 'no-parameter'), '')
  const without = run()
  t.equal(without.status, 0, 'without the sign-in stack (or in the lab) the boot goes on', { stderr: without.stderr })
  t.equal(readFileSync(join(etc, 'upload.env'), 'utf8'), '', 'with no OIDC settings')
  t.match(without.stdout, /^mount=$/m)

  const full = lines.join('\n')
  t.match(full, /docker run .* \$oidc_mount --log-driver/, 'the container gets the file')
  for (const other of ['download', 'keyadmin']) t.notMatch(full, new RegExp(`sign-in/${other}|kms-share/${other}/oidc-client`), `upload's boot reads nothing of ${other}'s`)
  t.notMatch(bootScript({ duty: 'audit', image: 'x', accountId: ACCOUNT, region: REGION, urlSuffix: 'amazonaws.com', environment: {} }).join('\n'), /sign-in|oidc/, 'the audit worker has no sign-in')
})
