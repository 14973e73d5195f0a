// Configuration: each service describes its environment as a TypeBox schema and loads it
// once at boot. This module is the only place that reads process.env.
import { readFileSync } from 'node:fs'
import envSchema from 'env-schema'
import { Type, type Static, type TObject, type TProperties } from 'typebox'
import { awsClientLimitProperties, awsConfigProperties } from './aws-config.js'
import { httpLimitProperties } from './http-limits.js'

export const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
  { default: 'info' },
)

/** Boolean-ish env values ("true"/"false"/"1"/"0") coerce through ajv's coerceTypes. */
const EnvBoolean = (defaultValue: boolean, description: string) =>
  Type.Boolean({ default: defaultValue, description })

/** What every HTTP service has: where it listens, how it logs, which bucket it serves. */
export const serviceConfigProperties = {
  HOST: Type.String({ default: '127.0.0.1', description: 'Interface to listen on.' }),
  LOG_LEVEL: LogLevel,
  BUCKET: Type.String({ minLength: 3, maxLength: 63, description: 'The S3 bucket holding the files.' }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 0, default: 10_000, description: 'How long in-flight requests get on SIGTERM.' }),
  ...awsConfigProperties,
  ...httpLimitProperties,
  ...awsClientLimitProperties,
} satisfies TProperties

/** A port property with a service's default. */
export const portProperty = (defaultPort: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort, description: 'TCP port (0 picks a free one).' })

export { EnvBoolean }

export type ServiceConfig = Static<TObject<typeof serviceConfigProperties>> & { PORT: number }

export interface LoadConfigOptions {
  /** Variables to use instead of process.env (tests, scripts). */
  env?: Record<string, string | undefined>
}

/** The suffix that makes any variable's value come from a file: `SESSION_SECRET_FILE=/run/secrets/session-secret`. */
export const FILE_SUFFIX = '_FILE'

/**
 * `NAME_FILE` for every variable `NAME` of the schema: the value is the file's content (one
 * trailing newline dropped), so secrets live in files only their service's user can read — never
 * in an environment that /proc/<pid>/environ, a crash dump or a child process could show.
 */
function readFileVariants(schema: TObject, data: Record<string, string>): void {
  for (const name of Object.keys(schema.properties)) {
    const file = data[`${name}${FILE_SUFFIX}`]
    if (file === undefined || name.endsWith(FILE_SUFFIX)) continue
    if (data[name] !== undefined) throw new Error(`invalid configuration: set ${name} or ${name}${FILE_SUFFIX}, not both`)
    try {
      data[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '')
    } catch (err) {
      throw new Error(`invalid configuration: ${name}${FILE_SUFFIX}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err })
    }
    delete data[`${name}${FILE_SUFFIX}`]
  }
}

/**
 * Validates the environment against the schema (defaults applied, strings coerced) and
 * throws one error listing what is wrong, so a misconfigured service never starts.
 */
export function loadConfig<S extends TObject>(schema: S, options: LoadConfigOptions = {}): Static<S> {
  const source = options.env ?? process.env
  const data: Record<string, string> = {}
  for (const [name, value] of Object.entries(source)) {
    // Empty variables mean unset, as in a compose file's `VAR:` or `VAR=`.
    if (value !== undefined && value !== '') data[name] = value
  }
  readFileVariants(schema, data)
  // env-schema mutates the schema (additionalProperties); give it a copy.
  const copy = structuredClone(schema) as unknown as Record<string, unknown>
  try {
    return envSchema<Static<S>>({ schema: copy, data, env: false, dotenv: false })
  } catch (err) {
    throw new Error(`invalid configuration: ${(err as Error).message}`, { cause: err })
  }
}

/** The environment of the current process, for scripts that start services as children. */
export function processEnv(): Record<string, string | undefined> {
  return { ...process.env }
}
