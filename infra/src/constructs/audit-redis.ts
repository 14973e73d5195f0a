// The audit queue's Redis: ElastiCache with TLS in transit, encryption at rest and an AUTH password kept in
// Secrets Manager; reachable only from the services that use the queue (upload, keyadmin, the audit worker).
import { RemovalPolicy } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as elasticache from 'aws-cdk-lib/aws-elasticache'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import { Construct } from 'constructs'
import type { Duty } from '@kms-share/policy'
import { USES_REDIS, secretName } from '../names.js'
import { acknowledge } from '../nag.js'

export interface AuditRedisProps {
  vpc: ec2.IVpc
  serviceGroups: Record<Duty, ec2.ISecurityGroup>
  nodeType: string
}

export const REDIS_PORT = 6379

export class AuditRedis extends Construct {
  readonly secret: secretsmanager.Secret
  readonly replicationGroup: elasticache.CfnReplicationGroup
  readonly securityGroup: ec2.SecurityGroup

  constructor(scope: Construct, id: string, props: AuditRedisProps) {
    super(scope, id)
    this.secret = new secretsmanager.Secret(this, 'Password', {
      secretName: secretName.redis,
      description: 'kms-share: the audit Redis AUTH password (password)',
      // ElastiCache allows printable characters but @, " and /; letters and digits also need no escaping in a URL.
      generateSecretString: { secretStringTemplate: '{}', generateStringKey: 'password', passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.DESTROY,
    })
    acknowledge(this.secret, {
      'AwsSolutions-SMG4': 'Rotating an ElastiCache AUTH token takes a ROTATE then SET on the replication group and restarted clients; the README gives the steps.',
    })
    this.securityGroup = new ec2.SecurityGroup(this, 'Group', { vpc: props.vpc, description: 'kms-share audit Redis: 6379 from upload, keyadmin and the audit worker', allowAllOutbound: false })
    for (const [duty, uses] of Object.entries(USES_REDIS) as Array<[Duty, boolean]>) {
      if (!uses) continue
      new ec2.CfnSecurityGroupIngress(this, `From${duty}`, {
        groupId: this.securityGroup.securityGroupId, sourceSecurityGroupId: props.serviceGroups[duty].securityGroupId,
        ipProtocol: 'tcp', fromPort: REDIS_PORT, toPort: REDIS_PORT, description: `Redis from ${duty}`,
      })
      new ec2.CfnSecurityGroupEgress(this, `To${duty}`, {
        groupId: props.serviceGroups[duty].securityGroupId, destinationSecurityGroupId: this.securityGroup.securityGroupId,
        ipProtocol: 'tcp', fromPort: REDIS_PORT, toPort: REDIS_PORT, description: `${duty} to the audit Redis`,
      })
    }
    const subnets = new elasticache.CfnSubnetGroup(this, 'Subnets', {
      description: 'kms-share audit Redis',
      subnetIds: props.vpc.privateSubnets.map((s) => s.subnetId),
    })
    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'Redis', {
      replicationGroupDescription: 'kms-share audit queue (BullMQ)',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: props.nodeType,
      numCacheClusters: 1,
      automaticFailoverEnabled: false,
      port: REDIS_PORT,
      cacheSubnetGroupName: subnets.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: this.secret.secretValueFromJson('password').unsafeUnwrap(),
      snapshotRetentionLimit: 1,
      autoMinorVersionUpgrade: true,
    })
    this.replicationGroup.applyRemovalPolicy(RemovalPolicy.DESTROY)
    acknowledge(this.replicationGroup, {
      'AwsSolutions-AEC4': 'One node: the queue and its verdicts can be rebuilt (the audit sweep re-audits every object without a verdict), so a second node would double the cost for nothing that cannot be recovered.',
      'AwsSolutions-AEC5': "Redis's default port; reachable only from three security groups, which is what keeps others out.",
    })
  }
}
