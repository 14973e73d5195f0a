// keyadmin's network clients: EC2 (VPC endpoints and VPC attributes, as keyadmin's own role, with
// the KMS client's credentials and region) and instance metadata (IMDSv2). Both time-limited.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { EC2Client } from '@aws-sdk/client-ec2'
import { MetadataService } from '@aws-sdk/ec2-metadata-service'
import { awsRequestHandlerOptions, type AwsClientConfig } from '@kms-share/shared'
import { discoverNetwork, type InstanceNetwork } from './metadata.js'

declare module 'fastify' {
  interface FastifyInstance {
    ec2: EC2Client
    /** The instance's network from metadata (asked each time: security groups can change). */
    instanceNetwork(): Promise<InstanceNetwork>
    /** How keyadmin reaches a service: the configured endpoint URL (the lab) or undefined (AWS's public names). */
    serviceEndpoint(service: 'kms' | 's3'): string | undefined
  }
}

export interface NetworkPluginOptions {
  config: AwsClientConfig & { AWS_TIMEOUT_MS: number }
  /** Time limit for each instance metadata request (connect and answer). */
  metadataTimeoutMs?: number
}

export const networkPlugin = fp(
  async function networkPlugin(app: FastifyInstance, { config, metadataTimeoutMs = 2_000 }: NetworkPluginOptions) {
    const ec2 = new EC2Client({
      // Same identity and region as keyadmin's KMS client: one role, however it gets its credentials.
      region: app.kms.config.region,
      credentials: app.kms.config.credentials,
      ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
      requestHandler: { ...awsRequestHandlerOptions(config), connectionTimeout: Math.min(config.AWS_TIMEOUT_MS, 5_000), requestTimeout: config.AWS_TIMEOUT_MS },
      maxAttempts: 2,
    })
    // The SDK joins the endpoint's path and the metadata path: no trailing slash, or paths start with //.
    const endpoint = config.AWS_EC2_METADATA_SERVICE_ENDPOINT?.replace(/\/+$/, '')
    const imds = new MetadataService({
      ...(endpoint ? { endpoint } : {}),
      httpOptions: { timeout: metadataTimeoutMs },
      retries: 1,
      backoff: 0.2,
      // The token is fetched once per discovery and sent with each read.
      disableFetchToken: true,
      ec2MetadataV1Disabled: false,
    })
    app.decorate('ec2', ec2)
    app.decorate('instanceNetwork', () => discoverNetwork(imds))
    app.decorate('serviceEndpoint', (service: 'kms' | 's3') => (service === 'kms' ? config.AWS_ENDPOINT_URL_KMS : config.AWS_ENDPOINT_URL_S3) ?? config.AWS_ENDPOINT_URL)
    app.addHook('onClose', async () => {
      ec2.destroy()
    })
  },
  { name: 'keyadmin-network', fastify: '5.x', dependencies: ['keyadmin-aws'] },
)
