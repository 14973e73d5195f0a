// What only AWS provides (the lab deploys none of it): the HTTPS load balancer, the audit queue's ElastiCache,
// the services' secrets in Secrets Manager and their boot policies. It publishes what the instances need
// (target group ARNs, URLs, the Redis endpoint) as SSM parameters under /kms-share/edge, so the compute stack
// reads them by name and never references this stack.
import { CfnOutput, CfnParameter, Fn, Stack, type StackProps } from 'aws-cdk-lib'
import * as ssm from 'aws-cdk-lib/aws-ssm'
import type { Construct } from 'constructs'
import { AuditRedis } from '../constructs/audit-redis.js'
import { ServiceSecrets } from '../constructs/service-secrets.js'
import { ShareLoadBalancer } from '../constructs/share-load-balancer.js'
import type { ShareNetwork } from '../constructs/share-network.js'
import { edgeParameter } from '../names.js'
import type { KmsShareSettings } from '../settings.js'

export interface EdgeStackProps extends StackProps {
  settings: KmsShareSettings
  network: ShareNetwork
}

export class EdgeStack extends Stack {
  constructor(scope: Construct, id: string, props: EdgeStackProps) {
    super(scope, id, props)
    const domainName = new CfnParameter(this, 'DomainName', {
      type: 'String',
      allowedPattern: '^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$',
      description: 'The domain the services answer under: upload.DOMAIN, download.DOMAIN, keyadmin.DOMAIN (point them at the LoadBalancerDnsName output)',
    })
    const certificateArn = new CfnParameter(this, 'CertificateArn', {
      type: 'String',
      allowedPattern: '^arn:aws[a-z-]*:acm:[a-z0-9-]+:\\d{12}:certificate/[0-9a-f-]+$',
      description: 'An ACM certificate in this region covering the three host names (e.g. *.DOMAIN)',
    })
    const { network, settings } = props
    const redis = new AuditRedis(this, 'AuditRedis', { vpc: network.vpc, serviceGroups: network.serviceGroups, nodeType: 'cache.t4g.micro' })
    new ServiceSecrets(this, 'Secrets', { redisSecret: redis.secret })
    const lb = new ShareLoadBalancer(this, 'Edge', {
      vpc: network.vpc,
      serviceGroups: network.serviceGroups,
      domainName: domainName.valueAsString,
      certificateArn: certificateArn.valueAsString,
      downloadShards: settings.downloadShards,
    })

    const publish = (id: string, name: string, value: string, description: string) =>
      new ssm.StringParameter(this, id, { parameterName: name, stringValue: value, description })
    for (const { name, group } of lb.targetGroups) publish(`${name}TargetGroup`, edgeParameter.targetGroup(name), group.targetGroupArn, `The ${name} target group (compute stack, LoadBalancer=attached)`)
    for (const duty of ['upload', 'download', 'keyadmin'] as const) {
      const url = Fn.join('', ['https://', lb.hostNames[duty]])
      publish(`${duty}Url`, edgeParameter.publicUrl(duty), url, `The ${duty} service's public URL`)
      new CfnOutput(this, `${duty}ServiceUrl`, { value: url })
    }
    const redisAddress = Fn.join(':', [redis.replicationGroup.attrPrimaryEndPointAddress, redis.replicationGroup.attrPrimaryEndPointPort])
    publish('RedisEndpoint', edgeParameter.redisEndpoint, redisAddress, 'The audit Redis (TLS, AUTH): host:port')
    new CfnOutput(this, 'LoadBalancerDnsName', { value: lb.loadBalancer.loadBalancerDnsName, description: 'Point upload., download. and keyadmin.DOMAIN here (CNAME, or a Route 53 alias)' })
    new CfnOutput(this, 'RedisEndpointAddress', { value: redisAddress })
  }
}
