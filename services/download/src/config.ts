// The download service's environment, validated at boot. The only module that reads process.env.
import { Type, type Static } from 'typebox'
import { authConfigProperties } from '@kms-share/shared'
import { loadConfig as loadSchema, portProperty, serviceConfigProperties } from '@kms-share/shared'

export const DownloadConfigSchema = Type.Object({
  ...serviceConfigProperties,
  ...authConfigProperties,
  PORT: portProperty(3002),
  CACHE_DIR: Type.String({ minLength: 1, default: '.cache/download', description: 'Folder for localfile-* cache files and their index.' }),
  CACHE_MAX_BYTES: Type.Integer({ minimum: 0, default: 1024 ** 3, description: 'Cache size bound; least recently used files are evicted past it.' }),
  UPLOAD_PUBLIC_URL: Type.String({ default: 'http://127.0.0.1:3001', description: "The upload service's URL, linked from the page." }),
  HEAD_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 8, description: 'Parallel HeadObject calls when listing files with their encryption.' }),
})

export type DownloadConfig = Static<typeof DownloadConfigSchema>

/** The validated configuration from `env` (the process environment unless given). */
export function loadConfig(env: Record<string, string | undefined> = process.env): DownloadConfig {
  return loadSchema(DownloadConfigSchema, { env })
}
