// The kms-share deployment as six stacks. The lab deploys four whole (IAM, KMS, S3, EC2 and SSM parameters
// only); the edge and sign-in stacks hold what only AWS provides. Order: identity → data → network → edge →
// sign-in → compute (compute comes after them only so that its instances find the target groups, URLs and OIDC
// settings they published).
import { App, Aws, Fn, LegacyStackSynthesizer, Tags, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import { settingsFromContext, type KmsShareSettings } from './settings.js'
import { ComputeStack } from './stacks/compute-stack.js'
import { DataStack } from './stacks/data-stack.js'
import { EdgeStack } from './stacks/edge-stack.js'
import { IdentityStack } from './stacks/identity-stack.js'
import { NetworkStack } from './stacks/network-stack.js'
import { SignInStack } from './stacks/sign-in-stack.js'

/** The stacks the lab deploys (`cdk.out/<name>.template.json`), in order, and the AWS-only one. */
export const LAB_STACKS = ['KmsShareIdentity', 'KmsShareData', 'KmsShareNetwork', 'KmsShareCompute'] as const
export const AWS_ONLY_STACKS = ['KmsShareEdge', 'KmsShareSignIn'] as const

/** The export through which the compute stack reads the key's ARN (the created key's, or ExistingKeyArn). */
export const KEY_ARN_EXPORT = 'KmsShare-KeyArn'

/**
 * The CDK feature flags this app is written for, set in code so that `cdk synth` and the tests build the same
 * templates (context from cdk.json or `-c` still wins).
 */
export const FEATURE_FLAGS: Record<string, unknown> = {
  // Policies stay statement for statement as packages/policy writes them.
  '@aws-cdk/aws-iam:minimizePolicies': false,
  '@aws-cdk/core:checkSecretUsage': true,
  '@aws-cdk/core:defaultCrossStackReferences': 'strong',
  '@aws-cdk/aws-ec2:restrictDefaultSecurityGroup': false,
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/aws-ec2:launchTemplateDefaultUserData': true,
  '@aws-cdk/aws-kms:aliasNameRef': true,
}

/** A CDK app with this app's feature flags and the given context (what `-c` gives the CLI). */
export function newKmsShareApp(context: Record<string, unknown> = {}, outdir?: string): App {
  return new App({ context: { ...FEATURE_FLAGS, ...context }, ...(outdir ? { outdir } : {}) })
}

export interface KmsShareStacks {
  identity: IdentityStack
  data: DataStack
  network: NetworkStack
  edge: EdgeStack
  signIn: SignInStack
  compute: ComputeStack
}

export function buildKmsShareApp(app: App, settings: KmsShareSettings = settingsFromContext(app.node)): KmsShareStacks {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
  // Stacks deploy with the deployer's own credentials and no bootstrap (no deploy or execution roles, templates
  // sent inline); nothing here is an asset, which a test holds.
  const common = { synthesizer: new LegacyStackSynthesizer(), analyticsReporting: false }
  const bucketName = settings.bucketName ?? `kmsworkshop-${Aws.ACCOUNT_ID}`

  const identity = new IdentityStack(app, 'KmsShareIdentity', { ...common, bucketName, description: 'kms-share: the service roles and instance profiles' })
  const data = new DataStack(app, 'KmsShareData', {
    ...common,
    bucketName,
    keyAlias: settings.keyAlias,
    keyMfaUsers: settings.keyMfaUsers,
    terminationProtection: settings.terminationProtection,
    description: 'kms-share: the key and the bucket (retained on delete)',
    keyArnExport: KEY_ARN_EXPORT,
  })
  data.addStackDependency(identity, 'the key policy names the service roles, which must exist')
  const network = new NetworkStack(app, 'KmsShareNetwork', { ...common, settings, flowLogBucket: data.bucket.logs, description: 'kms-share: VPC, endpoints, security groups' })
  const edge = new EdgeStack(app, 'KmsShareEdge', { ...common, settings, network: network.network, description: 'kms-share: load balancer, Redis, secrets (AWS only)' })
  edge.addStackDependency(identity, 'the boot policies attach to the service roles by name')
  const signIn = new SignInStack(app, 'KmsShareSignIn', { ...common, description: "kms-share: people's sign-in, a Cognito user pool with its groups and app clients (AWS only)" })
  signIn.addStackDependency(edge, 'the app clients\' URLs are the ones the edge stack published')
  signIn.addStackDependency(identity, 'the sign-in policies attach to the service roles by name')
  const compute = new ComputeStack(app, 'KmsShareCompute', {
    ...common,
    settings,
    network: network.network,
    bucketName,
    keyArn: Fn.importValue(KEY_ARN_EXPORT),
    description: 'kms-share: one Auto Scaling group per service',
  })
  compute.addStackDependency(identity, 'instances launch with the instance profiles')
  compute.addStackDependency(data, 'the services read the key ARN export')
  compute.addStackDependency(edge, 'LoadBalancer=attached reads the target groups the edge stack publishes')
  compute.addStackDependency(signIn, 'instances read their OIDC settings and client secret at boot')
  for (const stack of [identity, data, network, edge, signIn, compute]) Tags.of(stack).add('project', 'kms-share')
  return { identity, data, network, edge, signIn, compute }
}
