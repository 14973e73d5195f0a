// The AWS clients keyadmin works with, as its own role: KMS (administration), IAM (read-only, for
// the access matrix and the lockout check) and STS (who am I). Each call has a time limit.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { KMSClient } from '@aws-sdk/client-kms'
import type { IAMClient } from '@aws-sdk/client-iam'
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts'
import { createIamClient, createKmsClient, createStsClient, type AwsConfig } from '@kms-share/shared'

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

/** The time limits every client gets: connection and whole-answer timeouts, and few retries. */
export function clientTimeouts(timeoutMs: number) {
  return { requestHandler: { connectionTimeout: Math.min(timeoutMs, 5_000), requestTimeout: timeoutMs }, maxAttempts: 2 }
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
    /** keyadmin's own identity (asked once, then remembered). */
    identity(): Promise<Identity>
  }
}

export interface AwsPluginOptions {
  config: AwsConfig & { AWS_TIMEOUT_MS: number }
}

export const awsPlugin = fp(
  async function awsPlugin(app: FastifyInstance, { config }: AwsPluginOptions) {
    const timeouts = clientTimeouts(config.AWS_TIMEOUT_MS)
    const kms = createKmsClient(config, timeouts)
    const iam = createIamClient(config, timeouts)
    const sts = createStsClient(config, timeouts)
    app.decorate('kms', kms)
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
    })
  },
  { name: 'keyadmin-aws', fastify: '5.x' },
)
