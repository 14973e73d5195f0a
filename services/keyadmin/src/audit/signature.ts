// Audit records signed with Ed25519: the worker alone holds the private key, keyadmin (and any
// reviewer) only the public one. With HMAC every verifier would hold the key that makes valid
// records; with a signature, a reader that is broken into — or Redis itself — cannot forge one.
// Each signature covers what a record is and which object it belongs to, so a valid record
// moved to another object's key fails too.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'

/** What is stored in Redis: the record's exact JSON text and its signature over it. */
interface Envelope {
  v: 1
  body: string
  sig: string
}

/** What a stored record says about itself once checked. */
export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string; stored: unknown }

export interface AuditVerifier {
  /** Checks a stored envelope for `subject` (e.g. `verdict` and the object's bucket/key). */
  open<T>(text: string, ...subject: string[]): Checked<T>
}

export interface AuditSigner extends AuditVerifier {
  /** The envelope text to store for `value` under `subject`. */
  seal(value: unknown, ...subject: string[]): string
}

const message = (subject: string[], body: string) => Buffer.from(`kms-audit v1\n${subject.join('\n')}\n${body}`)

function verifierOf(publicKey: KeyObject): AuditVerifier {
  return {
    open<T>(text: string, ...subject: string[]): Checked<T> {
      let envelope: Partial<Envelope>
      try {
        envelope = JSON.parse(text) as Partial<Envelope>
      } catch {
        return { ok: false, reason: 'not a signed record (not JSON)', stored: text }
      }
      if (envelope?.v !== 1 || typeof envelope.body !== 'string' || typeof envelope.sig !== 'string') {
        return { ok: false, reason: 'not a signed record (no signature)', stored: envelope }
      }
      const stored = (() => {
        try {
          return JSON.parse(envelope.body) as unknown
        } catch {
          return envelope.body
        }
      })()
      if (!verify(null, message(subject, envelope.body), publicKey, Buffer.from(envelope.sig, 'base64'))) {
        return { ok: false, reason: "its signature does not verify with the audit worker's key: the worker did not write it, or it was changed since", stored }
      }
      return { ok: true, value: stored as T }
    },
  }
}

/** A verifier from the worker's public key (PEM, SPKI). */
export function auditVerifier(publicKeyPem: string): AuditVerifier {
  const key = createPublicKey(publicKeyPem)
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the audit verify key must be an Ed25519 public key, got ${key.asymmetricKeyType}`)
  return verifierOf(key)
}

/** A signer from the worker's private key (PEM, PKCS#8); it verifies with the matching public key. */
export function auditSigner(privateKeyPem: string): AuditSigner {
  const key = createPrivateKey(privateKeyPem)
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the audit signing key must be an Ed25519 private key, got ${key.asymmetricKeyType}`)
  return {
    ...verifierOf(createPublicKey(key)),
    seal(value, ...subject) {
      const body = JSON.stringify(value)
      const envelope: Envelope = { v: 1, body, sig: sign(null, message(subject, body), key).toString('base64') }
      return JSON.stringify(envelope)
    },
  }
}

/** A new key pair: the private key for the worker (AUDIT_SIGNING_KEY), the public one for readers (AUDIT_VERIFY_KEY). */
export function generateAuditKeys(): { signingKey: string; verifyKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return {
    signingKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    verifyKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }
}
