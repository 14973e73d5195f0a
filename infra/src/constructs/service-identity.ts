// One service's identity: its role, trusting EC2 only, with exactly its definition's identity policy
// (packages/policy roles.ts), and the instance profile of the same name that its instances launch with.
import { Aws } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import { Construct } from 'constructs'
import type { ServiceRoleDefinition } from '@kms-share/policy'
import { acknowledge } from '../nag.js'

export interface ServiceIdentityProps {
  definition: ServiceRoleDefinition
  /** The bucket's name (a contract: the definitions name it). */
  bucketName: string
}

export class ServiceIdentity extends Construct {
  readonly role: iam.Role
  readonly instanceProfile: iam.InstanceProfile

  constructor(scope: Construct, id: string, props: ServiceIdentityProps) {
    super(scope, id)
    const { definition } = props
    const document = definition.document({ accountId: Aws.ACCOUNT_ID, region: Aws.REGION, partition: Aws.PARTITION, bucket: props.bucketName })
    this.role = new iam.Role(this, 'Role', {
      roleName: definition.roleName,
      description: definition.description,
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      inlinePolicies: { [definition.policyName]: iam.PolicyDocument.fromJson(document) },
    })
    this.instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.role, instanceProfileName: definition.roleName })
    acknowledge(this.role, wildcardReasons(document))
  }
}

// Why each wildcard in the definitions is there; a wildcard without a reason here fails the synth (cdk-nag).
const WILDCARD_REASONS: Array<[RegExp, string]> = [
  [/^Resource::arn:<AWS::Partition>:s3:::.+\/\*$/, "The bucket's objects: the service acts on any object of its own bucket and no other bucket."],
  [/^Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key\/\*$/, "The account's keys in this region: the key policy decides which key (the separation-of-duties policy names this role), so an existing key by ARN works without changing the role."],
  [/^Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:alias\/\*$/, "The account's aliases in this region: creating an alias needs permission on the alias as well as on its key, and keyadmin names new aliases."],
  [/^Resource::\*$/, 'These actions (cloudtrail:LookupEvents, kms:CreateKey, kms:ListKeys, kms:ListAliases, ec2 VPC endpoint calls, iam:List*/Get*) take no resource ARN or act on resources the service creates.'],
  [/^Action::kms:[A-Za-z]+\*$/, "Key administration, as AWS's default key administrator statement writes it; key use (Encrypt, Decrypt, GenerateDataKey*, ReEncrypt*) is never in this role."],
]

function wildcardReasons(document: ReturnType<ServiceRoleDefinition['document']>): Record<string, string> {
  const found: Record<string, string> = {}
  for (const statement of document.Statement) {
    for (const action of [statement.Action ?? []].flat()) if (action.includes('*')) found[`Action::${action}`] = ''
    for (const resource of [statement.Resource ?? []].flat()) if (resource.includes('*')) found[`Resource::${resource}`] = ''
  }
  const out: Record<string, string> = {}
  for (const raw of Object.keys(found)) {
    const id = nagDetail(raw)
    const reason = WILDCARD_REASONS.find(([re]) => re.test(id))?.[1]
    if (reason) out[`AwsSolutions-IAM5[${id}]`] = reason
  }
  return out
}

// cdk-nag names a token by its CloudFormation reference: <AWS::AccountId>, <Bucket.Arn>.
function nagDetail(raw: string): string {
  return raw.replace(/\$\{Token\[AWS\.(\w+)\.\d+\]\}/g, (_m, name: string) => `<AWS::${name}>`)
}
