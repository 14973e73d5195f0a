// buildApp(config): the keyadmin service as a Fastify instance that never listens (server.ts does).
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import { ListKeysCommand } from '@aws-sdk/client-kms'
import { basePlugin, serverOptions } from '@kms-share/shared'
import type { KeyadminConfig } from './config.js'
import { awsPlugin } from './plugins/aws.js'

export type { KeyadminConfig } from './config.js'
export { loadConfig, KeyadminConfigSchema } from './config.js'
export { KeyadminErrors } from './errors.js'

export interface BuildOptions {
  /** Where the JSON log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void }
}

export async function buildApp(config: KeyadminConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const base = serverOptions(config, 'keyadmin')
  const logger = options.logStream && typeof base.logger === 'object' ? { ...base.logger, stream: options.logStream } : base.logger
  const app = Fastify({ ...base, logger })

  // External plugins → domain plugins → routes.
  await app.register(swagger, {
    openapi: {
      info: { title: 'kms-share keyadmin', version: '0.1.0', description: 'Administers KMS keys as the key administrator role: never uses them.' },
    },
  })
  await app.register(basePlugin)
  await app.register(awsPlugin, { config })

  // Ready when KMS answers keyadmin's own credentials.
  app.addReadinessCheck('kms', async () => {
    await app.kms.send(new ListKeysCommand({ Limit: 1 }))
  })

  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger())
  return app
}
