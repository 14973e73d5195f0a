// The HTTPS entry: one internet-facing Application Load Balancer, a host name per service
// (upload., download., keyadmin.<domain>), and a target group per web service and per download shard.
// Downloads stick to objects, not clients: each shard is one instance with its own cache, and a listener rule
// sends /files/<key> to the shard that owns the key's first character, so every request for an object reaches
// the instance that cached it.
import { Aws, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import { FactName } from 'aws-cdk-lib/region-info'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2'
import * as s3 from 'aws-cdk-lib/aws-s3'
import { Construct } from 'constructs'
import type { Duty } from '@kms-share/policy'
import { SERVICE_PORTS, targetGroupNames } from '../names.js'
import { acknowledge } from '../nag.js'

export interface ShareLoadBalancerProps {
  vpc: ec2.IVpc
  serviceGroups: Record<Duty, ec2.ISecurityGroup>
  domainName: string
  certificateArn: string
  downloadShards: number
}

/** The characters a URL-encoded key may start with, dealt to shards in turn; any other goes to shard 0. */
const KEY_START = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'

/** The first characters of the keys shard `shard` of `shards` serves. */
export function shardCharacters(shard: number, shards: number): string {
  return [...KEY_START].filter((_, i) => i % shards === shard).join('')
}

export class ShareLoadBalancer extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer
  readonly targetGroups: Array<{ name: string; duty: 'upload' | 'download' | 'keyadmin'; group: elbv2.ApplicationTargetGroup }>
  readonly hostNames: Record<'upload' | 'download' | 'keyadmin', string>

  constructor(scope: Construct, id: string, props: ShareLoadBalancerProps) {
    super(scope, id)
    const logs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    })
    acknowledge(logs, { 'AwsSolutions-S1': "The load balancer's access-log bucket; logging it would log every log delivery." })

    const group = new ec2.SecurityGroup(this, 'Group', { vpc: props.vpc, description: 'kms-share load balancer: HTTPS (and HTTP redirected) from anywhere; out to the services only', allowAllOutbound: false })
    group.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS')
    group.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP, redirected to HTTPS')
    acknowledge(group, { 'AwsSolutions-EC23': 'The public entry of the file share: HTTPS from anywhere; each service still requires a token or an OIDC identity.' })

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnets: props.vpc.publicSubnets },
      securityGroup: group,
      dropInvalidHeaderFields: true,
      // Uploads of large files take long; the services have their own idle limits (UPLOAD_IDLE_TIMEOUT_MS).
      idleTimeout: Duration.seconds(120),
    })
    // logAccessLogs() needs the region at synthesis; this stack is region-agnostic, so the same grant is written
    // out: the region's ELB account (a mapping CDK keeps) and, for newer regions, the log delivery service.
    const elbAccount = Stack.of(this).regionalFact(FactName.ELBV2_ACCOUNT, Aws.ACCOUNT_ID)
    logs.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'LoadBalancerAccessLogs',
      actions: ['s3:PutObject'],
      principals: [new iam.ArnPrincipal(`arn:${Aws.PARTITION}:iam::${elbAccount}:root`), new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')],
      resources: [logs.arnForObjects(`alb/AWSLogs/${Aws.ACCOUNT_ID}/*`)],
    }))
    this.loadBalancer.setAttribute('access_logs.s3.enabled', 'true')
    this.loadBalancer.setAttribute('access_logs.s3.bucket', logs.bucketName)
    this.loadBalancer.setAttribute('access_logs.s3.prefix', 'alb')
    // The load balancer checks that it may write there when it is created.
    if (logs.policy) this.loadBalancer.node.addDependency(logs.policy)

    for (const [duty, port] of Object.entries(SERVICE_PORTS) as Array<['upload' | 'download' | 'keyadmin', number]>) {
      new ec2.CfnSecurityGroupIngress(this, `To${duty}`, {
        groupId: props.serviceGroups[duty].securityGroupId, sourceSecurityGroupId: group.securityGroupId,
        ipProtocol: 'tcp', fromPort: port, toPort: port, description: `${duty} from the load balancer`,
      })
      group.addEgressRule(props.serviceGroups[duty], ec2.Port.tcp(port), `to ${duty}`)
    }

    this.hostNames = {
      upload: Fn.join('.', ['upload', props.domainName]),
      download: Fn.join('.', ['download', props.domainName]),
      keyadmin: Fn.join('.', ['keyadmin', props.domainName]),
    }
    const https = this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      open: false,
      defaultAction: elbv2.ListenerAction.fixedResponse(404, { contentType: 'text/plain', messageBody: 'No kms-share service at this host name.' }),
    })
    this.loadBalancer.addListener('Http', { port: 80, open: false, defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }) })

    this.targetGroups = targetGroupNames(props.downloadShards).map(({ name, duty }) => ({
      name,
      duty,
      group: new elbv2.ApplicationTargetGroup(this, `${name}Targets`, {
        vpc: props.vpc,
        targetType: elbv2.TargetType.INSTANCE,
        protocol: elbv2.ApplicationProtocol.HTTP,
        port: SERVICE_PORTS[duty],
        healthCheck: { path: '/healthz', healthyHttpCodes: '200' },
        deregistrationDelay: Duration.seconds(30),
        // Page sessions live in the memory of the instance that signed the person in (shared's SessionStore):
        // the load balancer's cookie keeps a browser on that instance for the session's default lifetime
        // (SESSION_TTL_SECONDS, 8 h). Scripts' bearer tokens need no stickiness and carry no cookie.
        stickinessCookieDuration: Duration.hours(8),
      }),
    }))
    const forward = (name: string) => this.targetGroups.find((t) => t.name === name)!.group
    const host = (duty: 'upload' | 'download' | 'keyadmin') => elbv2.ListenerCondition.hostHeaders([this.hostNames[duty]])
    https.addAction('Upload', { priority: 10, conditions: [host('upload')], action: elbv2.ListenerAction.forward([forward('upload')]) })
    https.addAction('Keyadmin', { priority: 20, conditions: [host('keyadmin')], action: elbv2.ListenerAction.forward([forward('keyadmin')]) })
    for (let shard = 1; shard < props.downloadShards; shard++) {
      // Regex path conditions are newer than the L2 ListenerCondition: written as the CloudFormation it is.
      new elbv2.CfnListenerRule(this, `DownloadShard${shard}`, {
        listenerArn: https.listenerArn,
        priority: 30 + shard,
        conditions: [
          { field: 'host-header', hostHeaderConfig: { values: [this.hostNames.download] } },
          { field: 'path-pattern', pathPatternConfig: { regexValues: [`^/files/[${shardCharacters(shard, props.downloadShards)}]`] } },
        ],
        actions: [{ type: 'forward', targetGroupArn: forward(`download-${shard}`).targetGroupArn }],
      })
    }
    // Shard 0 takes its own keys and everything else on the download host (pages, listings, sign-in).
    https.addAction('Download', { priority: 100, conditions: [host('download')], action: elbv2.ListenerAction.forward([forward('download-0')]) })
  }
}
