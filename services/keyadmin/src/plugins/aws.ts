// The AWS clients keyadmin works with, as its own role: KMS (administration), IAM (read-only, for
// the access matrix and the lockout check) and STS (who am I). Every call has a time limit.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { KMSClient } from '@aws-sdk/client-kms'
import type { IAMClient } from '@aws-sdk/client-iam'
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail'
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts'
import { awsRequestHandlerOptions, createIamClient, createKmsClient, createStsClient, type AwsClientConfig } from '@kms-share/shared'

/** Who a set of credentials is, in the terms `packages/policy` evaluates. */
export interface Identity {
  /** The caller ARN (for a role: the session ARN). */
  arn: string
  accountId: string
  userId: string
  type: 'assumed-role' | 'user' | 'root'
  /** For a role session: the role's ARN; for a user: the user's ARN. */
  principalArn: string
  roleName?: string
  userName?: string
}

/** Parses what STS GetCallerIdentity answers. */
export function identityFromArn(arn: string, userId = ''): Identity {
  const m = /^arn:aws[\w-]*:(?:sts|iam)::(\d{12}):(.+)$/.exec(arn)
  if (!m) throw new Error(`not a caller ARN: ${arn}`)
  const [, accountId, rest] = m
  if (rest === 'root') return { arn, accountId, userId, type: 'root', principalArn: arn }
  const role = /^assumed-role\/([^/]+)\/(.+)$/.exec(rest)
  if (role) return { arn, accountId, userId, type: 'assumed-role', roleName: role[1], principalArn: `arn:aws:iam::${accountId}:role/${role[1]}` }
  const user = /^user\/(?:.*\/)?([^/]+)$/.exec(rest)
  if (user) return { arn, accountId, userId, type: 'user', userName: user[1], principalArn: arn }
  throw new Error(`unsupported caller ARN: ${arn}`)
}

declare module 'fastify' {
  interface FastifyInstance {
    kms: KMSClient
    iam: IAMClient
    sts: STSClient
    /** CloudTrail LookupEvents: when a key was last used (the impact report before deletion). */
    cloudtrail: CloudTrailClient
    /** keyadmin's own identity (asked once, then remembered). */
    identity(): Promise<Identity>
  }
}

/** The shared client limits, with keyadmin's shorter whole-call and connect limits. */
export function keyadminClientOptions(config: AwsClientConfig & { AWS_TIMEOUT_MS: number }) {
  return {
    requestHandler: { ...awsRequestHandlerOptions(config), connectionTimeout: Math.min(config.AWS_TIMEOUT_MS, 5_000), requestTimeout: config.AWS_TIMEOUT_MS },
  }
}

export interface AwsPluginOptions {
  config: AwsClientConfig & { AWS_TIMEOUT_MS: number }
}

export const awsPlugin = fp(
  async function awsPlugin(app: FastifyInstance, { config }: AwsPluginOptions) {
    const limits = keyadminClientOptions(config)
    const kms = createKmsClient(config, limits)
    const iam = createIamClient(config, limits)
    const sts = createStsClient(config, limits)
    // Same identity chain and region as KMS; the lab (or AWS_ENDPOINT_URL) serves CloudTrail too.
    // LookupEvents allows 2 calls per second per account, shared with the audit worker: the SDK retries throttling with back-off.
    const cloudtrail = new CloudTrailClient({
      region: kms.config.region, credentials: kms.config.credentials, ...limits, maxAttempts: 5,
      ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
    })
    app.decorate('kms', kms)
    app.decorate('cloudtrail', cloudtrail)
    app.decorate('iam', iam)
    app.decorate('sts', sts)
    let identity: Promise<Identity> | undefined
    app.decorate('identity', function (): Promise<Identity> {
      if (!identity) {
        const asked = sts.send(new GetCallerIdentityCommand({})).then((out) => identityFromArn(out.Arn ?? '', out.UserId ?? ''))
        // A failed lookup is asked again next time instead of being remembered.
        asked.catch(() => { identity = undefined })
        identity = asked
      }
      return identity
    })
    app.addHook('onClose', async () => {
      kms.destroy()
      iam.destroy()
      sts.destroy()
      cloudtrail.destroy()
    })
  },
  { name: 'keyadmin-aws', fastify: '5.x' },
)
