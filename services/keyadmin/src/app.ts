// buildApp(config): the keyadmin service as a Fastify instance that never listens (server.ts does).
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import { ListKeysCommand } from '@aws-sdk/client-kms'
import { authPlugin, basePlugin, framePlugin, requireScope, serverOptions } from '@kms-share/shared'
import type { KeyadminConfig } from './config.js'
import { awsPlugin } from './plugins/aws.js'
import { KEYADMIN_GUIDE } from './problem-guide.js'
import { mfaPlugin } from './plugins/mfa.js'
import { keysRoutes } from './routes/keys.js'
import { policiesRoutes } from './routes/policies.js'
import { templatesRoutes } from './routes/templates.js'
import { accessRoutes } from './routes/access.js'
import { grantsRoutes } from './routes/grants.js'
import { keyImpactRoutes } from './routes/key-impact.js'
import { pageRoutes } from './routes/page.js'
import { auditRoutes } from './routes/audit.js'
import { networkPlugin } from './network/plugin.js'
import { networkRoutes } from './routes/network.js'
import { vpcEndpointsRoutes } from './routes/vpc-endpoints.js'
import { keyMaterialRoutes } from './routes/key-material.js'
import { networkPageRoutes } from './routes/network-page.js'
import { unencodedReferenceRoutes } from './routes/unencoded.js'

export type { KeyadminConfig } from './config.js'
export { loadConfig, KeyadminConfigSchema } from './config.js'
export { KeyadminErrors } from './errors.js'

/** keys:read reads and checks (GETs, validate, simulate, template rendering); keys:admin changes keys; audit:read reads audit results. */
export const KEYADMIN_SCOPES = ['keys:read', 'keys:admin', 'audit:read'] as const

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; unset: keys:read for GET/HEAD, keys:admin otherwise. */
    scope?: (typeof KEYADMIN_SCOPES)[number]
  }
}

const scopeGuards = Object.fromEntries(KEYADMIN_SCOPES.map((s) => [s, requireScope(s)])) as Record<(typeof KEYADMIN_SCOPES)[number], ReturnType<typeof requireScope>>

export interface BuildOptions {
  /** Where the JSON log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void }
}

export async function buildApp(config: KeyadminConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const base = serverOptions(config, 'keyadmin')
  const logger = options.logStream && typeof base.logger === 'object' ? { ...base.logger, stream: options.logStream } : base.logger
  // A mistyped member (pendingWindowInDay) is refused instead of silently dropped: admin input must mean what it says.
  const app = Fastify({ ...base, logger, ajv: { customOptions: { removeAdditional: false } } })

  // External plugins → domain plugins → routes.
  await app.register(swagger, {
    openapi: {
      info: { title: 'kms-share keyadmin', version: '0.1.0', description: 'Administers KMS keys as the key administrator role: never uses them.' },
    },
  })
  await app.register(basePlugin)
  await app.register(authPlugin, { config, scopes: KEYADMIN_SCOPES, service: 'keyadmin' })
  await app.register(framePlugin, { config, service: 'keyadmin', guide: KEYADMIN_GUIDE })
  await app.register(awsPlugin, { config })
  await app.register(mfaPlugin, { config })
  await app.register(networkPlugin, { config })

  // Ready when KMS answers keyadmin's own credentials.
  app.addReadinessCheck('kms', async () => {
    await app.kms.send(new ListKeysCommand({ Limit: 1 }))
  })

  await app.register(auditRoutes, { config })

  await app.register(async (scoped) => {
    scoped.addHook('onRequest', async (request, reply) => {
      const scope = request.routeOptions.config.scope ?? (request.method === 'GET' || request.method === 'HEAD' ? 'keys:read' : 'keys:admin')
      return scopeGuards[scope](request, reply)
    })
    await scoped.register(keysRoutes)
    await scoped.register(policiesRoutes, { bucket: config.BUCKET })
    await scoped.register(templatesRoutes, { bucket: config.BUCKET, uploaderRole: config.KEYADMIN_UPLOADER_ROLE, downloaderRole: config.KEYADMIN_DOWNLOADER_ROLE })
    await scoped.register(accessRoutes, { bucket: config.BUCKET })
    await scoped.register(grantsRoutes)
    await scoped.register(keyImpactRoutes, { bucket: config.BUCKET })
    await scoped.register(pageRoutes)
    await scoped.register(networkRoutes)
    await scoped.register(vpcEndpointsRoutes)
    await scoped.register(keyMaterialRoutes)
    await scoped.register(networkPageRoutes)
    await scoped.register(unencodedReferenceRoutes)
  })
  return app
}
