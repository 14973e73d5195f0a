// Wrapping key material for ImportKeyMaterial with the public key GetParametersForImport returns,
// in memory, as AWS's "Encrypt the key material" step does with openssl.
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-encrypt-key-material.html
import { constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto'

export const WRAPPING_ALGORITHMS = ['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1'] as const
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number]
export const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const
export type WrappingKeySpec = (typeof WRAPPING_KEY_SPECS)[number]

/** Symmetric (SYMMETRIC_DEFAULT) key material is 256 bits. */
export const SYMMETRIC_MATERIAL_BYTES = 32

/**
 * Encrypts `material` under the DER (SubjectPublicKeyInfo) public key: RSAES_OAEP_* directly; RSA_AES_KEY_WRAP_*
 * wraps an ephemeral AES-256 key with RSA-OAEP and the material with AES key wrap with padding (RFC 5649).
 */
export function wrapKeyMaterial(material: Buffer, publicKeyDer: Uint8Array, algorithm: WrappingAlgorithm): Buffer {
  const key = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' })
  const oaepHash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256'
  if (algorithm.startsWith('RSAES_OAEP')) return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, material)
  const aesKey = randomBytes(32)
  try {
    const wrappedKey = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, aesKey)
    const cipher = createCipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'))
    return Buffer.concat([wrappedKey, cipher.update(material), cipher.final()])
  } finally {
    aesKey.fill(0)
  }
}
