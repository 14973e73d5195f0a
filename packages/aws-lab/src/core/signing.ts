// What both signature versions share: the secret a verifier signs with, what a verified request
// establishes, and AWS's clock-skew limit. SigV4 and SigV2 import it; neither imports the other's types.
import type { SigV4Result } from './types.js'

/** Requests more than 15 minutes off the server's clock are refused (RequestTimeTooSkewed / signature expired). */
export const MAX_SKEW_MS = 15 * 60_000

export interface SigningSecret {
  secretAccessKey: string
  /** Present for temporary credentials: the request must carry exactly this token. */
  sessionToken?: string
  /** Epoch ms; undefined = never expires. */
  expiresAt?: number
}

export interface VerifiedRequest extends SigV4Result {
  sessionToken?: string
  region: string
  service: string
}
