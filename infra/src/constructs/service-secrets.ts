// Each web service's secrets in Secrets Manager, never in a template or an environment: SESSION_SECRET
// (generated) and AUTH_TOKENS (token hashes, which the deployer puts in), read by the instance at boot. The
// instance's role may read its own secrets, the published edge values and its image, and nothing more: a
// deployment-only policy kept apart from the role's definition, in the stack that owns the secrets.
import { Aws, RemovalPolicy } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import { Construct } from 'constructs'
import { serviceRole, type Duty } from '@kms-share/policy'
import { EDGE_PARAMETER_PATH, USES_REDIS, secretName } from '../names.js'
import { acknowledge } from '../nag.js'

export interface ServiceSecretsProps {
  redisSecret: secretsmanager.ISecret
}

const WEB_DUTIES = ['upload', 'download', 'keyadmin'] as const

export class ServiceSecrets extends Construct {
  readonly secrets: Record<(typeof WEB_DUTIES)[number], secretsmanager.Secret>

  constructor(scope: Construct, id: string, props: ServiceSecretsProps) {
    super(scope, id)
    this.secrets = {} as ServiceSecrets['secrets']
    for (const duty of WEB_DUTIES) {
      const secret = new secretsmanager.Secret(this, `${duty}Secret`, {
        secretName: secretName.service(duty),
        description: `kms-share ${duty}: SESSION_SECRET (generated) and AUTH_TOKENS (name:scopes:sha256 entries, from scripts/auth-token.mjs)`,
        generateSecretString: { secretStringTemplate: JSON.stringify({ AUTH_TOKENS: '' }), generateStringKey: 'SESSION_SECRET', passwordLength: 48, excludePunctuation: true },
        removalPolicy: RemovalPolicy.DESTROY,
      })
      acknowledge(secret, {
        'AwsSolutions-SMG4': 'Rotated by the deployer (README: put-secret-value, then an instance refresh): a rotation Lambda function would end every session and replace token hashes only people can issue.',
      })
      this.secrets[duty] = secret
    }
    for (const duty of ['upload', 'download', 'keyadmin', 'audit'] as const satisfies readonly Duty[]) {
      const readable = [
        ...(duty === 'audit' ? [] : [this.secrets[duty].secretArn]),
        ...(USES_REDIS[duty] ? [props.redisSecret.secretArn] : []),
      ]
      const policy = new iam.Policy(this, `${duty}BootPolicy`, {
        policyName: `${serviceRole(duty).roleName}-boot`,
        roles: [iam.Role.fromRoleName(this, `${duty}Role`, serviceRole(duty).roleName)],
        statements: [
          new iam.PolicyStatement({ sid: 'OwnSecrets', actions: ['secretsmanager:GetSecretValue'], resources: readable }),
          new iam.PolicyStatement({
            sid: 'EdgeValues',
            actions: ['ssm:GetParametersByPath'],
            resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${EDGE_PARAMETER_PATH}`],
          }),
          new iam.PolicyStatement({ sid: 'RegistryLogin', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
          new iam.PolicyStatement({
            sid: 'PullOwnImages',
            actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
            resources: [`arn:${Aws.PARTITION}:ecr:${Aws.REGION}:${Aws.ACCOUNT_ID}:repository/kms-share/*`],
          }),
        ],
      })
      acknowledge(policy, {
        'AwsSolutions-IAM5[Resource::*]': 'ecr:GetAuthorizationToken takes no resource.',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/kms-share/*]': "The project's own image repositories (kms-share/<service>).",
      })
    }
  }
}
