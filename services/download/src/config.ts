// The download service's environment, validated at boot. The only module that reads process.env.
import { Type, type Static } from 'typebox'
import { authConfigProperties } from '@kms-share/shared'
import { frameConfigProperties, listingConfigProperties, loadConfig as loadSchema, portProperty, serviceConfigProperties } from '@kms-share/shared'

/** A duration: plain milliseconds or a number with ms, s, m or h. */
const DURATION_PATTERN = '^\\s*\\d+\\s*(ms|s|m|h)?\\s*$'
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Milliseconds of a duration such as `60000`, `500ms`, `30s`, `5m`, `1h`. */
export function durationMs(text: string): number {
  const match = /^\s*(\d+)\s*(ms|s|m|h)?\s*$/.exec(text)
  if (!match) throw new Error(`not a duration: ${text}`)
  return Number(match[1]) * UNIT_MS[match[2] ?? 'ms']
}

export const DownloadConfigSchema = Type.Object({
  ...serviceConfigProperties,
  ...authConfigProperties,
  ...frameConfigProperties,
  ...listingConfigProperties,
  PORT: portProperty(3002),
  CACHE_DIR: Type.String({ minLength: 1, default: '.cache/download', description: 'Folder for localfile-* cache files and their index.' }),
  CACHE_MAX_BYTES: Type.Integer({ minimum: 0, default: 1024 ** 3, description: 'Cache size bound; least recently used files are evicted past it.' }),
  CACHE_MEMORY_BYTES: Type.Integer({ minimum: 0, default: 32 * 1024 ** 2, description: 'Bytes of small cached files (64 KiB or less each) also kept in memory, so their hits touch no file; 0 keeps none. Dropped with the cache entry.' }),
  HEAD_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 8, description: 'Parallel HeadObject calls (all views together) when listing files with their encryption.' }),
  HEAD_MEMO_MS: Type.Integer({ minimum: 0, default: 30_000, description: "How long an object's encryption details (per key and ETag) are reused by GET /files and the page; 0 asks S3 every time." }),
  CACHE_REVALIDATE_AFTER_MS: Type.Integer({ minimum: 0, default: 0, description: 'Serve a hit without asking S3 when the file was fetched or revalidated less than this long ago; 0 revalidates every hit (each revalidation is one KMS Decrypt, billed and rate-limited in AWS), so a revoked permission ends hits at once.' }),
  CACHE_SWEEP_INTERVAL: Type.String({ pattern: DURATION_PATTERN, default: '5m', description: 'Every this long (ms, or 500ms/30s/5m/1h) each cached file is revalidated and deleted when the service can no longer read it; 0 turns the sweep off.' }),
})

export type DownloadConfig = Static<typeof DownloadConfigSchema>

/** The validated configuration from `env` (the process environment unless given). */
export function loadConfig(env: Record<string, string | undefined> = process.env): DownloadConfig {
  return loadSchema(DownloadConfigSchema, { env })
}
