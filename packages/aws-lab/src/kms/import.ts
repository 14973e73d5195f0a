// Imported key material: wrapping key pairs for GetParametersForImport and the unwrapping
// ImportKeyMaterial does. https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-get-public-key-and-token.html
import { constants, createDecipheriv, createPrivateKey, generateKeyPair, privateDecrypt, randomBytes } from 'node:crypto'
import { promisify } from 'node:util'

const generateKeyPairAsync = promisify(generateKeyPair)

export const WRAPPING_ALGORITHMS = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'] as const
export const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number]
export type WrappingKeySpec = (typeof WRAPPING_KEY_SPECS)[number]

/** A fresh RSA key pair: public half as DER SubjectPublicKeyInfo (what AWS returns), private half as PKCS#8 PEM. */
export async function newWrappingKeyPair(spec: WrappingKeySpec): Promise<{ publicKeyDer: Buffer; privateKeyPem: string }> {
  const modulusLength = Number(spec.slice(4))
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
  return { publicKeyDer: publicKey as unknown as Buffer, privateKeyPem: privateKey }
}

export function newImportToken(): string {
  return randomBytes(48).toString('base64')
}

/** Unwraps EncryptedKeyMaterial; undefined when it does not decrypt under the wrapping key. */
export function unwrapKeyMaterial(wrapped: Buffer, algorithm: string, privateKeyPem: string): Buffer | undefined {
  const key = createPrivateKey(privateKeyPem)
  const hash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256'
  try {
    if (algorithm.startsWith('RSAES_OAEP')) {
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, wrapped)
    }
    // RSA_AES_KEY_WRAP_*: RSA-OAEP-wrapped ephemeral AES-256 key, then the material under AES key wrap with padding (RFC 5649).
    const rsaLength = (key.asymmetricKeyDetails?.modulusLength ?? 2048) / 8
    const aesKey = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, wrapped.subarray(0, rsaLength))
    const decipher = createDecipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'))
    return Buffer.concat([decipher.update(wrapped.subarray(rsaLength)), decipher.final()])
  } catch {
    return undefined
  }
}
