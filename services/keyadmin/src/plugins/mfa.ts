// MFA-guarded operations. AWS gives MFA sessions only to IAM users, so with KEYADMIN_MFA_PROFILE
// and KEYADMIN_MFA_SERIAL set, the sensitive operations (MFA_SENSITIVE_ACTIONS: PutKeyPolicy,
// ScheduleKeyDeletion, DisableKey, DeleteImportedKeyMaterial, DeleteAlias, UpdateAlias, CreateGrant)
// run as that user: the X-MFA-Code is exchanged through STS GetSessionToken for a short session, and
// KMS is called with it. keyadmin's own role holds none of them and the key policy denies them without MFA.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { KMSClient } from '@aws-sdk/client-kms'
import { GetCallerIdentityCommand, GetSessionTokenCommand } from '@aws-sdk/client-sts'
import { MFA_SENSITIVE_ACTIONS } from '@kms-share/policy'
import { awsErrorCode, createKmsClient, createStsClient, isAwsServiceError, problemOf, ProblemError, type AwsClientConfig } from '@kms-share/shared'
import { identityFromArn, keyadminClientOptions, type Identity } from './aws.js'
import { kmsProblem } from '../aws-errors.js'
import { KeyadminErrors } from '../errors.js'

export const MFA_HEADER = 'x-mfa-code'
/** The shortest session STS issues; a guarded call needs seconds. */
const SESSION_SECONDS = 900
/** A TOTP code is good in its 30-second window and both neighbours: remembered that long, a second use is told apart from a wrong code. */
const CODE_MEMORY_MS = 90_000

export type SensitiveAction = (typeof MFA_SENSITIVE_ACTIONS)[number]

export interface MfaGuard {
  /** Whether sensitive operations need an MFA code and run as the MFA user. */
  enabled: boolean
  serial?: string
  /** Who performs sensitive operations: the MFA user when enabled, keyadmin's own identity otherwise. */
  sensitiveIdentity(): Promise<Identity & { mfa: boolean }>
  /** Runs `call` with a KMS client for a sensitive operation (the MFA session when enabled). */
  sensitive<T>(request: FastifyRequest, action: SensitiveAction, call: (kms: KMSClient) => Promise<T>): Promise<T>
}

declare module 'fastify' {
  interface FastifyInstance {
    mfa: MfaGuard
  }
}

export interface MfaPluginOptions {
  config: AwsClientConfig & { AWS_TIMEOUT_MS: number; KEYADMIN_MFA_PROFILE?: string; KEYADMIN_MFA_SERIAL?: string; KEYADMIN_MFA_CREDENTIALS_FILE?: string }
}

export const mfaPlugin = fp(
  async function mfaPlugin(app: FastifyInstance, { config }: MfaPluginOptions) {
    const profile = config.KEYADMIN_MFA_PROFILE
    const serial = config.KEYADMIN_MFA_SERIAL
    const limits = keyadminClientOptions(config)
    // The MFA user's keys come from a file of their own, so keyadmin's role calls never see them.
    const userConfig: AwsClientConfig = { ...config, AWS_PROFILE: profile, ...(config.KEYADMIN_MFA_CREDENTIALS_FILE ? { AWS_SHARED_CREDENTIALS_FILE: config.KEYADMIN_MFA_CREDENTIALS_FILE } : {}) }
    const sts = profile ? createStsClient(userConfig, limits) : undefined
    let userIdentity: Promise<Identity> | undefined
    // Codes STS accepted, with when they stop mattering: STS answers a reused code as it answers a wrong one.
    const usedCodes = new Map<string, { until: number; action: string }>()
    if (!profile) app.log.warn({ sensitiveActions: MFA_SENSITIVE_ACTIONS }, 'MFA is not configured (KEYADMIN_MFA_PROFILE, KEYADMIN_MFA_SERIAL): the sensitive operations run as keyadmin\'s own role, which may not perform them')

    const guard: MfaGuard = {
      enabled: Boolean(profile && serial),
      ...(serial ? { serial } : {}),
      async sensitiveIdentity() {
        if (!sts) return { ...(await app.identity()), mfa: false }
        if (!userIdentity) {
          const asked = sts.send(new GetCallerIdentityCommand({})).then((out) => identityFromArn(out.Arn ?? '', out.UserId ?? ''))
          asked.catch(() => { userIdentity = undefined })
          userIdentity = asked
        }
        return { ...(await userIdentity), mfa: true }
      },
      async sensitive(request, action, call) {
        // A person signed in through the provider confirms it is them first (RFC 9470 step-up); scripts use X-MFA-Code.
        app.auth.assertStepUp(request, action)
        if (!sts || !serial) return call(app.kms)
        const code = request.headers[MFA_HEADER]
        if (typeof code !== 'string' || code.length === 0) throw new ProblemError(problemOf(new KeyadminErrors.MFA_REQUIRED(action), { action }))
        if (!/^\d{6}$/.test(code)) throw new ProblemError(problemOf(new KeyadminErrors.MFA_INVALID('X-MFA-Code must be six digits'), { action }))
        const now = Date.now()
        for (const [used, { until }] of usedCodes) if (until <= now) usedCodes.delete(used)
        const earlier = usedCodes.get(code)
        if (earlier) throw new ProblemError(problemOf(new KeyadminErrors.MFA_REUSED(earlier.action), { action }))
        let credentials
        try {
          const out = await sts.send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: code, DurationSeconds: SESSION_SECONDS }))
          credentials = out.Credentials
        } catch (err) {
          // STS answers a wrong code with 403 AccessDenied ("MultiFactorAuthentication failed …").
          if (isAwsServiceError(err) && err.$metadata.httpStatusCode === 403 && awsErrorCode(err) === 'AccessDenied') {
            const why = `${err.message} The code is wrong, expired, or older than one already used: send the current code from the device`
            throw new ProblemError(problemOf(new KeyadminErrors.MFA_INVALID(why), { action, awsErrorCode: 'AccessDenied' }), { cause: err })
          }
          throw kmsProblem(err, { action: 'sts:GetSessionToken' })
        }
        usedCodes.set(code, { until: now + CODE_MEMORY_MS, action })
        if (!credentials?.AccessKeyId || !credentials.SecretAccessKey) throw new Error('STS returned no credentials')
        const kms = createKmsClient(userConfig, {
          ...limits,
          credentials: { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey, sessionToken: credentials.SessionToken, expiration: credentials.Expiration },
        })
        request.log.info({ action, mfaSerial: serial }, 'sensitive operation with an MFA session')
        try {
          return await call(kms)
        } finally {
          kms.destroy()
        }
      },
    }
    app.decorate('mfa', guard)
    app.addHook('onClose', async () => {
      sts?.destroy()
    })
  },
  { name: 'keyadmin-mfa', fastify: '5.x', dependencies: ['keyadmin-aws', 'kms-share-auth'] },
)
