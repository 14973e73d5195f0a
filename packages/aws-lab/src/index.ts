// Public entry of @kms-share/aws-lab.
export * from './core/types.js'
export { startLab, DEFAULT_SEED_FILE, type Lab, type LabOptions, type ProfileCredentials } from './app.js'
export { Router, denialMessage } from './core/router.js'
export { FileStateStore, writeFileAtomic } from './core/store.js'
export { verifySigV4, deriveSigningKey, sha256Hex, uriEncode } from './core/sigv4.js'
export { DEFAULT_ACCOUNT_ID, DEFAULT_REGION } from './core/arn.js'
export { checkTotp, totpFor } from './sts/model.js'
export { LOOKUP_RATE_PER_SECOND } from './cloudtrail/service.js'
