// HTTPS for the lab: a certificate authority generated once into $LAB_DATA_DIR/tls (clients trust it
// with AWS_CA_BUNDLE / NODE_EXTRA_CA_CERTS / ca_bundle), a server certificate for the lab's names, and
// one port that answers both TLS and plain HTTP (the first byte of a TLS connection is a handshake, 0x16).
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { X509Certificate, webcrypto } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { Server as HttpServer } from 'node:http'
import { createServer as createNetServer, isIP, type Server as NetServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { writeFileAtomic } from './store.js'

type CryptoKey = webcrypto.CryptoKey

x509.cryptoProvider.set(webcrypto as never)

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const DAY_MS = 86_400_000
const CA_DAYS = 3650
/** Browsers and TLS stacks refuse leaf certificates valid for more than 398 days. */
const SERVER_DAYS = 397
const TLS_HANDSHAKE = 0x16
/** A connection that sends nothing is closed after this long. */
const FIRST_BYTE_TIMEOUT_MS = 65_000

export interface LabTls {
  /** The CA certificate (PEM) clients trust: $LAB_DATA_DIR/tls/ca.pem. */
  caFile: string
  /** The CA certificate itself, served at GET /_lab/ca.pem for containers that share no volume with the lab. */
  caPem: string
  cert: string
  key: string
  hostnames: string[]
}

function pem(kind: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n')
  return `-----BEGIN ${kind}-----\n${b64.trim()}\n-----END ${kind}-----\n`
}

async function importKey(pemText: string): Promise<CryptoKey> {
  const der = Buffer.from(pemText.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  return webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, true, ['sign'])
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1')
}

/** Every name the certificate must carry: localhost and the loopback addresses, the listen host, and any extras. */
export function tlsHostnames(host: string, extra: string[] = []): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', ...extra])
  if (host && host !== '0.0.0.0' && host !== '::') names.add(host)
  return [...names]
}

async function newCa(dir: string): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=aws-lab local CA, O=kms-share aws-lab',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + CA_DAYS * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  const keyPem = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey))
  writeFileAtomic(join(dir, 'ca-key.pem'), keyPem, 0o600)
  writeFileAtomic(join(dir, 'ca.pem'), cert.toString('pem') + '\n', 0o644)
  return { cert, key: keys.privateKey }
}

/** The server certificate is still good for these names for at least a month. */
function serverCertFits(certPem: string, hostnames: string[]): boolean {
  try {
    const cert = new X509Certificate(certPem)
    if (new Date(cert.validTo).getTime() - Date.now() < 30 * DAY_MS) return false
    const san = cert.subjectAltName ?? ''
    return hostnames.every((name) => (isIP(name) ? san.includes(`IP Address:${name === '::1' ? '0:0:0:0:0:0:0:1' : name}`) || san.includes(`IP Address:${name}`) : san.includes(`DNS:${name}`)))
  } catch {
    return false
  }
}

/** The lab's CA (made once) and a server certificate for `hostnames` (made again when names change or it nears expiry). */
export async function labTls(dataDir: string, hostnames: string[]): Promise<LabTls> {
  const dir = join(dataDir, 'tls')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const caFile = join(dir, 'ca.pem')
  const certFile = join(dir, 'server.pem')
  const keyFile = join(dir, 'server-key.pem')
  let ca: { cert: x509.X509Certificate; key: CryptoKey }
  if (existsSync(caFile) && existsSync(join(dir, 'ca-key.pem'))) {
    if (existsSync(certFile) && existsSync(keyFile) && serverCertFits(readFileSync(certFile, 'utf8'), hostnames)) {
      return { caFile, caPem: readFileSync(caFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), hostnames }
    }
    ca = { cert: new x509.X509Certificate(readFileSync(caFile, 'utf8')), key: await importKey(readFileSync(join(dir, 'ca-key.pem'), 'utf8')) }
  } else {
    ca = await newCa(dir)
  }
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${hostnames[0] ?? 'localhost'}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + SERVER_DAYS * DAY_MS),
    signingKey: ca.key,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hostnames.map((name) => (isIP(name) ? { type: 'ip' as const, value: name } : { type: 'dns' as const, value: name }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  })
  const key = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey))
  const certPem = cert.toString('pem') + '\n'
  writeFileAtomic(keyFile, key, 0o600)
  writeFileAtomic(certFile, certPem, 0o644)
  return { caFile, caPem: readFileSync(caFile, 'utf8'), cert: certPem, key, hostnames }
}

export interface FrontDoor {
  server: NetServer
  https: HttpsServer
  /** Stops listening and drops connections that have not said which protocol they speak. */
  close(): void
}

/**
 * One listening socket for both: a connection whose first byte is a TLS handshake goes to an HTTPS
 * server sharing the HTTP server's request handler and timeouts; anything else to the HTTP server.
 */
export function frontDoor(http: HttpServer, tls: LabTls): FrontDoor {
  const handler = http.listeners('request')[0] as (...args: unknown[]) => void
  const https = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handler)
  https.requestTimeout = http.requestTimeout
  https.keepAliveTimeout = http.keepAliveTimeout
  // Neither listens itself: 'listening' is what starts their connection tracking, which close() and closeIdleConnections need.
  https.emit('listening')
  http.emit('listening')
  const undecided = new Set<Socket>()
  const server = createNetServer({ pauseOnConnect: true }, (socket: Socket) => {
    undecided.add(socket)
    socket.once('close', () => undecided.delete(socket))
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy())
    socket.once('error', () => socket.destroy())
    socket.once('data', (chunk: Buffer) => {
      undecided.delete(socket)
      socket.pause()
      socket.setTimeout(0)
      socket.unshift(chunk)
      ;(chunk[0] === TLS_HANDSHAKE ? https : http).emit('connection', socket)
      process.nextTick(() => socket.resume())
    })
    socket.resume()
  })
  return {
    server,
    https,
    close() {
      server.close()
      for (const socket of undecided) socket.destroy()
      undecided.clear()
    },
  }
}
