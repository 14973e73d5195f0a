// The DWN_ error catalogue: every error this service answers besides the shared SHR_ ones.
// Each code is documented in the README's "Errors" table (a test checks both).
import createError from '@fastify/error'

export const DownloadErrors = {
  CACHE_ENTRY_NOT_FOUND: createError('DWN_CACHE_ENTRY_NOT_FOUND', 'No cache file %s', 404),
  RANGE_NOT_SATISFIABLE: createError('DWN_RANGE_NOT_SATISFIABLE', 'Range %s cannot be satisfied for %s bytes', 416),
  INVALID_KEY: createError('DWN_INVALID_KEY', 'Invalid object key: %s', 400),
} as const
