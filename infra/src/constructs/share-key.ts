// The customer managed key every object is encrypted under: symmetric, rotated yearly, with the
// separation-of-duties key policy keyadmin renders, and its alias — or, when the deployer passes
// ExistingKeyArn, that key instead (its policy is then the key owner's business, e.g. keyadmin's template).
import { Aws, CfnCondition, CfnParameter, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as kms from 'aws-cdk-lib/aws-kms'
import { Construct } from 'constructs'
import { renderKeyPolicy } from '../policies.js'

export interface ShareKeyProps {
  alias: string
  bucketName: string
  /** Key policy template parameters other than account, region and bucket (role names, administrators). */
  templateParameters: Record<string, unknown>
}

export class ShareKey extends Construct {
  /** The key's ARN: the created key's, or ExistingKeyArn. */
  readonly keyArn: string
  readonly existingKeyArn: CfnParameter
  readonly createKey: CfnCondition
  readonly key: kms.Key

  constructor(scope: Construct, id: string, props: ShareKeyProps) {
    super(scope, id)
    this.existingKeyArn = new CfnParameter(scope, 'ExistingKeyArn', {
      type: 'String',
      default: '',
      allowedPattern: '^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/[0-9a-fA-F-]+)?$',
      constraintDescription: 'a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), or empty to create the key',
      description: 'An existing symmetric KMS key to encrypt the bucket under, by key ARN (not an alias: the bucket policy and the services compare key ARNs). Empty: the stack creates the key with the separation-of-duties policy.',
    })
    this.createKey = new CfnCondition(scope, 'CreateKey', { expression: Fn.conditionEquals(this.existingKeyArn.valueAsString, '') })
    const policy = renderKeyPolicy('separation-of-duties', { accountId: Aws.ACCOUNT_ID, region: Aws.REGION, partition: Aws.PARTITION, bucket: props.bucketName }, props.templateParameters)
    this.key = new kms.Key(this, 'Key', {
      description: 'kms-share: every object in the bucket is encrypted under this key',
      enableKeyRotation: true,
      rotationPeriod: Duration.days(365),
      keySpec: kms.KeySpec.SYMMETRIC_DEFAULT,
      keyUsage: kms.KeyUsage.ENCRYPT_DECRYPT,
      policy: iam.PolicyDocument.fromJson(policy),
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
    })
    const cfnKey = this.key.node.defaultChild as kms.CfnKey
    cfnKey.cfnOptions.condition = this.createKey
    // The policy denies PutKeyPolicy without MFA to everyone, the deployer included: exactly the case KMS's
    // lockout check exists to stop, and that the bypass is for (the keyadmin role and the MFA users keep it manageable).
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kms-key.html#cfn-kms-key-bypasspolicylockoutsafetycheck
    cfnKey.bypassPolicyLockoutSafetyCheck = true
    const alias = new kms.CfnAlias(this, 'Alias', { aliasName: props.alias, targetKeyId: this.key.keyArn })
    alias.cfnOptions.condition = this.createKey
    // Deleting the alias is a sensitive operation (MFA only) that the deployer cannot do; it stays with the retained key.
    alias.applyRemovalPolicy(RemovalPolicy.RETAIN)
    this.keyArn = Fn.conditionIf(this.createKey.logicalId, this.key.keyArn, this.existingKeyArn.valueAsString).toString()
  }
}
