// The lab's workshop bucket and key, shared by the bench process and the SDK worker (which must not load the harness).
export const MiB = 1024 * 1024
export const GiB = 1024 * MiB
export const BUCKET = 'kmsworkshop-111122223333'
export const KEY_ALIAS = 'alias/ImportedCMK'
