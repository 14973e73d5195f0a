// CloudTrail's event store: append-only JSONL (a torn last line after a crash is skipped), newest-first lookups.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export interface TrailEvent {
  eventVersion: string
  userIdentity: Record<string, unknown>
  eventTime: string
  eventSource: string
  eventName: string
  awsRegion: string
  sourceIPAddress: string
  userAgent: string
  errorCode?: string
  errorMessage?: string
  requestParameters: Record<string, unknown> | null
  responseElements: Record<string, unknown> | null
  requestID: string
  eventID: string
  readOnly: boolean
  resources?: Array<{ accountId: string; type: string; ARN: string }>
  eventType: string
  managementEvent: boolean
  recipientAccountId: string
  eventCategory: string
  vpcEndpointId?: string
  vpcEndpointAccountId?: string
  [key: string]: unknown
}

export class TrailStore {
  readonly file: string
  private readonly events: TrailEvent[] = []
  private fd: number

  constructor(dataDir: string) {
    const dir = join(dataDir, 'cloudtrail')
    mkdirSync(dir, { recursive: true })
    this.file = join(dir, 'events.jsonl')
    let needsNewline = false
    if (existsSync(this.file)) {
      const text = readFileSync(this.file, 'utf8')
      for (const line of text.split('\n')) {
        if (!line.trim()) continue
        try {
          this.events.push(JSON.parse(line) as TrailEvent)
        } catch {
          // A line torn by kill -9 mid-write: skip it, the next append starts on a fresh line.
        }
      }
      needsNewline = text.length > 0 && !text.endsWith('\n')
    }
    this.fd = openSync(this.file, 'a', 0o600)
    if (needsNewline) writeSync(this.fd, '\n')
  }

  append(event: TrailEvent): void {
    this.events.push(event)
    writeSync(this.fd, `${JSON.stringify(event)}\n`)
  }

  /** Oldest first, as recorded. */
  all(): readonly TrailEvent[] {
    return this.events
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd)
    this.fd = -1
  }
}
