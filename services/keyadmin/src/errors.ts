// The KADM_ error catalogue: every error this service answers besides the shared SHR_ ones.
// Each code is documented in the README's "Errors" table (a test checks both).
import createError from '@fastify/error'

export const KeyadminErrors = {
  POLICY_INVALID: createError('KADM_POLICY_INVALID', 'The policy has %s error finding(s); fix them and retry', 422),
  POLICY_LOCKOUT: createError('KADM_POLICY_LOCKOUT', 'Refused: %s', 409),
  POLICY_UNREADABLE: createError('KADM_POLICY_UNREADABLE', 'The policy cannot be evaluated: %s', 422),
  UNKNOWN_CONTEXT_KEY: createError('KADM_UNKNOWN_CONTEXT_KEY', '%s', 400),
  SIMULATE_INPUT: createError('KADM_SIMULATE_INPUT', '%s', 400),
  KEY_NOT_FOUND: createError('KADM_KEY_NOT_FOUND', 'No such key: %s', 404),
  NEW_ACCESS: createError('KADM_NEW_ACCESS', 'The proposed policy grants access that the current one does not: %s', 409),
  NOT_URL_ENCODED: createError('KADM_NOT_URL_ENCODED', 'No route %s: a key or alias reference in a path must be URL-encoded (alias/NAME as alias%%2FNAME); use %s', 404),
  ALIAS_NOT_FOUND: createError('KADM_ALIAS_NOT_FOUND', 'No such alias: %s', 404),
  ALREADY_EXISTS: createError('KADM_ALREADY_EXISTS', '%s', 409),
  INVALID_KEY_STATE: createError('KADM_INVALID_KEY_STATE', '%s', 409),
  AWS_REJECTED: createError('KADM_AWS_REJECTED', 'AWS rejected the request: %s', 400),
  UNSUPPORTED_OPERATION: createError('KADM_UNSUPPORTED_OPERATION', '%s', 400),
  TEMPLATE_NOT_FOUND: createError('KADM_TEMPLATE_NOT_FOUND', 'No policy template %s', 404),
  TEMPLATE_PARAMETERS: createError('KADM_TEMPLATE_PARAMETERS', '%s', 400),
  TAG_LIMIT: createError('KADM_TAG_LIMIT', '%s', 400),
  MFA_REQUIRED: createError('KADM_MFA_REQUIRED', '%s needs a fresh MFA code in X-MFA-Code', 403),
  MFA_INVALID: createError('KADM_MFA_INVALID', 'The MFA code was refused: %s', 403),
  MFA_REUSED: createError('KADM_MFA_REUSED', 'This MFA code was already used for %s; each code works once: wait for the next code (at most 30 s) and send that', 403),
} as const
