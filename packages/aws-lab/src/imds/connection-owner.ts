// Who owns the other end of a local TCP connection: on Linux, /proc/net/tcp and tcp6 list every
// socket of the network namespace with its owner's uid, so the client side of a loopback
// connection is the entry whose local address is our peer and whose remote address is us.
// The lab uses it to serve an instance's metadata only to that instance's user (`pnpm start`
// runs each service as its own uid), the way only an instance itself can reach 169.254.169.254.
import { readFile } from 'node:fs/promises'
import { endianness } from 'node:os'
import type { Socket } from 'node:net'

export interface TcpEntry {
  local: { address: string; port: number }
  remote: { address: string; port: number }
  /** The kernel's state number (01 ESTABLISHED … 06 TIME_WAIT …). */
  state: number
  uid: number
}

const TIME_WAIT = 0x06
const littleEndian = endianness() === 'LE'

/** The kernel prints each 32-bit word of an address as a number in the machine's byte order. */
function wordBytes(hex: string): number[] {
  const word = Number.parseInt(hex, 16)
  const bytes = [(word >>> 24) & 0xff, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff]
  return littleEndian ? bytes.reverse() : bytes
}

/** `0100007F:1F90` → { address: '127.0.0.1', port: 8080 }; IPv6 as eight groups, v4-mapped ones as IPv4. */
export function parseProcAddress(text: string): { address: string; port: number } {
  const [hex, portHex] = text.split(':')
  const port = Number.parseInt(portHex, 16)
  if (hex.length === 8) return { address: wordBytes(hex).join('.'), port }
  const bytes = [0, 8, 16, 24].flatMap((i) => wordBytes(hex.slice(i, i + 8)))
  return { address: normalizeAddress(bytesToIpv6(bytes)), port }
}

function bytesToIpv6(bytes: number[]): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16))
  return groups.join(':')
}

/** One spelling per address: v4-mapped IPv6 as IPv4, IPv6 as eight lower-case groups without zero padding. */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase()
  if (/^\d+\.\d+\.\d+\.\d+$/.test(lower)) return lower
  // A trailing dotted quad (::ffff:127.0.0.1) is two groups.
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(lower)
  const text = dotted ? `${dotted[1]}${((Number(dotted[2]) << 8) | Number(dotted[3])).toString(16)}:${((Number(dotted[4]) << 8) | Number(dotted[5])).toString(16)}` : lower
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = [...left, ...Array<string>(tail === undefined ? 0 : 8 - left.length - right.length).fill('0'), ...right].map((g) => Number.parseInt(g, 16))
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.')
  }
  return groups.map((g) => g.toString(16)).join(':')
}

/** The entries of one /proc/net/tcp or tcp6 text (the header line skipped). */
export function parseProcNetTcp(text: string): TcpEntry[] {
  const entries: TcpEntry[] = []
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 8) continue
    entries.push({ local: parseProcAddress(fields[1]), remote: parseProcAddress(fields[2]), state: Number.parseInt(fields[3], 16), uid: Number(fields[7]) })
  }
  return entries
}

/**
 * The uid owning the client end of `socket` (a connection this process accepted), or undefined
 * when it is not a local socket of this network namespace, is gone, or is ambiguous. A socket's
 * owner is fixed when it is made, and its 4-tuple cannot be taken by another socket while this
 * side holds the connection open, so the answer belongs to this connection.
 */
export async function clientSocketOwner(socket: Socket): Promise<number | undefined> {
  const { remoteAddress, remotePort, localAddress, localPort } = socket
  if (!remoteAddress || !remotePort || !localAddress || !localPort) return undefined
  const peer = normalizeAddress(remoteAddress)
  const us = normalizeAddress(localAddress)
  const texts = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((file) => readFile(file, 'utf8').catch(() => '')))
  const matches = texts.flatMap(parseProcNetTcp).filter((e) =>
    e.state !== TIME_WAIT && e.local.port === remotePort && e.remote.port === localPort && e.local.address === peer && e.remote.address === us)
  const owners = new Set(matches.map((e) => e.uid))
  return owners.size === 1 ? [...owners][0] : undefined
}

/** Whether this machine can tell (Linux, /proc mounted). */
export async function canReadSocketOwners(): Promise<boolean> {
  return readFile('/proc/net/tcp', 'utf8').then(() => true, () => false)
}
