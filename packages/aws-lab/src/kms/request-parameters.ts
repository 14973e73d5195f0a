// What CloudTrail records of a KMS call's request.

/** Members CloudTrail never records: plaintext, ciphertexts, wrapped material, tokens. */
const SECRET_MEMBERS = new Set(['Plaintext', 'CiphertextBlob', 'SourceCiphertextBlob', 'EncryptedKeyMaterial', 'ImportToken', 'GrantTokens', 'GrantToken'])
/** Maps whose keys are the caller's own strings, recorded verbatim. */
const VERBATIM_MAPS = new Set(['EncryptionContext', 'SourceEncryptionContext', 'DestinationEncryptionContext'])

function camel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1)
}

function camelize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelize)
  if (value && typeof value === 'object') {
    const out = Object.create(null) as Record<string, unknown>
    for (const [k, v] of Object.entries(value)) out[camel(k)] = camelize(v)
    return out
  }
  return value
}

/** requestParameters in CloudTrail's camelCase, without secrets. */
export function kmsRequestParameters(input: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!input) return null
  const out = Object.create(null) as Record<string, unknown>
  for (const [k, v] of Object.entries(input)) {
    if (SECRET_MEMBERS.has(k) || v === undefined) continue
    out[camel(k)] = VERBATIM_MAPS.has(k) ? v : camelize(v)
  }
  return Object.keys(out).length > 0 ? out : null
}
