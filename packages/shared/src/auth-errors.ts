// The auth part of the SHR_ catalogue (documented in the package README).
import createError from '@fastify/error'

export const AuthErrors = {
  UNAUTHENTICATED: createError('SHR_UNAUTHENTICATED', 'Authentication required: %s', 401),
  INVALID_CREDENTIALS: createError('SHR_INVALID_CREDENTIALS', 'The credentials were refused: %s', 401),
  MISSING_SCOPE: createError('SHR_MISSING_SCOPE', 'This needs the scope %s; %s', 403),
  CROSS_SITE: createError('SHR_CROSS_SITE', 'Cross-site request refused: %s', 403),
  CSRF: createError('SHR_CSRF', 'Missing or invalid CSRF token: %s', 403),
  OIDC_UNAVAILABLE: createError('SHR_OIDC_UNAVAILABLE', "The OIDC issuer's signing keys could not be fetched: %s", 503),
  STEP_UP_REQUIRED: createError('SHR_STEP_UP_REQUIRED', '%s needs a recent sign-in with MFA: %s', 401),
  BAD_LOGOUT_TOKEN: createError('SHR_BAD_LOGOUT_TOKEN', 'The logout token was refused: %s', 400),
} as const
