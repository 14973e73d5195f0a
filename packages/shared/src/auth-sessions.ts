// Server-side page sessions: the cookie holds only a signed random id; the record lives here, so
// sign-out (and the provider's back-channel logout) ends it for every copy of the cookie.
import { randomBytes } from 'node:crypto'

/** What a signed-in person (or a token pasted on the sign-in page) brings to a page session. */
export interface SessionRecord {
  id: string
  via: 'token' | 'oidc'
  name: string
  /** OIDC sessions: from the groups (re-read at each refresh); token sessions: re-read from AUTH_TOKENS on every request. */
  scopes: string[]
  groups: string[]
  createdAt: number
  /** Epoch ms: the session ends then, whatever else happens. */
  expiresAt: number
  /** Token sessions: the token's hash, so a token removed from AUTH_TOKENS ends its sessions. */
  tokenHash?: string
  oidc?: OidcSessionTokens
}

export interface OidcSessionTokens {
  sub: string
  /** The provider's session id (back-channel logout names it). */
  sid?: string
  idToken: string
  accessToken: string
  refreshToken?: string
  /** Epoch ms when the access token expires: the session refreshes shortly before. */
  accessExpiresAt: number
  /** Epoch seconds of the person's last authentication at the provider. */
  authTime?: number
  amr: string[]
  acr?: string
}

export interface SessionStoreOptions {
  /** The most sessions held; beyond it the oldest goes (sessions are made only by successful sign-ins). */
  maxSessions?: number
}

/** In memory, per process: a restart ends page sessions, and the provider's own session signs people back in without a password. */
export class SessionStore {
  private readonly sessions = new Map<string, SessionRecord>()
  private readonly maxSessions: number

  constructor(options: SessionStoreOptions = {}) {
    this.maxSessions = options.maxSessions ?? 10_000
  }

  get size(): number {
    return this.sessions.size
  }

  create(data: Omit<SessionRecord, 'id' | 'createdAt'>): SessionRecord {
    this.sweep()
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value
      if (oldest === undefined) break
      this.sessions.delete(oldest)
    }
    const record: SessionRecord = { ...data, id: randomBytes(32).toString('base64url'), createdAt: Date.now() }
    this.sessions.set(record.id, record)
    return record
  }

  /** The live session with this id; an expired one is removed. */
  get(id: string): SessionRecord | undefined {
    const record = this.sessions.get(id)
    if (!record) return undefined
    if (record.expiresAt <= Date.now()) {
      this.sessions.delete(id)
      return undefined
    }
    return record
  }

  delete(id: string): boolean {
    return this.sessions.delete(id)
  }

  /** Ends every session matching `match` (back-channel logout: by the provider's sid or the person's sub); answers how many. */
  deleteWhere(match: (record: SessionRecord) => boolean): number {
    let n = 0
    for (const [id, record] of this.sessions) {
      if (match(record)) {
        this.sessions.delete(id)
        n++
      }
    }
    return n
  }

  /** Makes sessions expire now, as time would (for operators and tests); answers how many. */
  expireWhere(match: (record: SessionRecord) => boolean = () => true): number {
    let n = 0
    for (const record of this.sessions.values()) {
      if (match(record)) {
        record.expiresAt = Date.now() - 1
        n++
      }
    }
    return n
  }

  private sweep(): void {
    const now = Date.now()
    for (const [id, record] of this.sessions) if (record.expiresAt <= now) this.sessions.delete(id)
  }
}
