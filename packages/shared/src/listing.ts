// The bucket's objects as both share services list them: one folder level at a time (prefix and "/"
// as delimiter, S3's common prefixes as folders), sorted by name, size or date, paged with cursors.
// By name ascending (S3's own order) each page is one ListObjectsV2 call and its continuation token,
// so a bucket of any size stays fast. Other orders need the whole level: it is read once
// (ListObjectsV2 pages of 1,000, up to `maxSortScan` objects), kept for `memoMs`, and paged from there.
import { randomBytes } from 'node:crypto'
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import { Type, type Static } from 'typebox'
import { ProblemError, problemOf, SharedErrors, toProblem } from './errors.js'

export const SORT_FIELDS = ['name', 'size', 'lastModified'] as const
export type SortField = (typeof SORT_FIELDS)[number]

/** Spread into a share service's config schema. */
export const listingConfigProperties = {
  LIST_SORT_MAX_OBJECTS: Type.Integer({ minimum: 1000, maximum: 1_000_000, default: 50_000, description: 'Most objects of one folder level read to sort it by size or date (1,000 per ListObjectsV2 call); beyond, the order holds within those read.' }),
}

/** Query properties of a listing route (spread into the route's querystring schema). */
export const listingQueryProperties = {
  prefix: Type.Optional(Type.String({ maxLength: 1024, description: 'Only names starting with this: a folder ("reports/2026/") and/or the start of a name (search by prefix).' })),
  delimiter: Type.Optional(Type.Literal('/', { description: 'List one folder level: names with a further "/" are grouped under folders.' })),
  sort: Type.Union([Type.Literal('name'), Type.Literal('size'), Type.Literal('lastModified')], { default: 'name', description: "name is S3's own order (UTF-8 bytes) and pages through any number of objects; size and lastModified read the whole level first (up to LIST_SORT_MAX_OBJECTS)." }),
  order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Objects and folders per page.' }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'nextCursor from the previous page (with the same prefix, delimiter, sort and order).' })),
}

export const ListedObjectSchema = Type.Object({
  key: Type.String(),
  size: Type.Integer(),
  lastModified: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  etag: Type.Union([Type.String(), Type.Null()]),
})

export const ListingFolderSchema = Type.Object({
  prefix: Type.String({ description: 'The folder as a prefix, ending in "/": list it with ?prefix=<this>&delimiter=/.' }),
})

/** Response properties of a listing (a service may add its own item fields). */
export const listingResponseProperties = {
  prefix: Type.String(),
  delimiter: Type.Union([Type.Literal('/'), Type.Null()]),
  sort: Type.Union([Type.Literal('name'), Type.Literal('size'), Type.Literal('lastModified')]),
  order: Type.Union([Type.Literal('asc'), Type.Literal('desc')]),
  folders: Type.Array(ListingFolderSchema, { description: 'Sub-folders on this page (sorted listings: all of them, on the first page).' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as ?cursor for the next page; null on the last.' }),
  scanned: Type.Optional(Type.Object({
    objects: Type.Integer({ description: 'Objects read to sort this level.' }),
    complete: Type.Boolean({ description: 'False when the level has more than LIST_SORT_MAX_OBJECTS objects: the order holds within those read.' }),
  })),
}

export const ListingQuerySchema = Type.Object(listingQueryProperties)
export type ListingQuery = Static<typeof ListingQuerySchema>
export type ListedObject = Static<typeof ListedObjectSchema>

export interface Listing {
  prefix: string
  delimiter: '/' | null
  sort: SortField
  order: 'asc' | 'desc'
  folders: Array<{ prefix: string }>
  items: ListedObject[]
  nextCursor: string | null
  scanned?: { objects: number; complete: boolean }
}

interface Scan {
  id: string
  at: number
  folders: string[]
  objects: ListedObject[]
  complete: boolean
}

export interface BucketListerOptions {
  /** Most objects read to sort one level by size or date. */
  maxSortScan?: number
  /** How long a level read for sorting is reused for its next pages. */
  memoMs?: number
  /** Levels kept at once. */
  memoEntries?: number
}

const NAME_CURSOR = 'n.'
const SORTED_CURSOR = 's.'

function compareNames(a: string, b: string): number {
  // S3's order: UTF-8 byte order, which for strings is code point order (not UTF-16 units).
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** Lists a bucket one level (or prefix) at a time for the share services' pages and APIs. */
export class BucketLister {
  readonly stats = { listCalls: 0, scans: 0, scanHits: 0 }
  private readonly maxSortScan: number
  private readonly memoMs: number
  private readonly memoEntries: number
  private readonly scans = new Map<string, Scan>()

  constructor(private readonly s3: S3Client, private readonly bucket: string, options: BucketListerOptions = {}) {
    this.maxSortScan = options.maxSortScan ?? 50_000
    this.memoMs = options.memoMs ?? 60_000
    this.memoEntries = options.memoEntries ?? 8
  }

  async list(query: Partial<ListingQuery>): Promise<Listing> {
    const prefix = query.prefix ?? ''
    const delimiter = query.delimiter ?? null
    const sort = query.sort ?? 'name'
    const order = query.order ?? 'asc'
    const limit = query.limit ?? 100
    const base = { prefix, delimiter, sort, order } as const
    if (sort === 'name' && order === 'asc') {
      const token = query.cursor === undefined ? undefined : this.nameToken(query.cursor)
      const page = await this.listPage(prefix, delimiter, limit, token)
      return { ...base, folders: page.folders.map((p) => ({ prefix: p })), items: page.objects, nextCursor: page.next ? NAME_CURSOR + page.next : null }
    }
    const offset = query.cursor === undefined ? 0 : this.sortedOffset(query.cursor)
    const scan = await this.scan(prefix, delimiter, query.cursor === undefined ? undefined : query.cursor.split('.')[1])
    const direction = order === 'asc' ? 1 : -1
    const key = (o: ListedObject) => (sort === 'size' ? o.size : sort === 'lastModified' ? Date.parse(o.lastModified ?? '') || 0 : 0)
    const objects = [...scan.objects].sort((a, b) => (sort === 'name' ? compareNames(a.key, b.key) : key(a) - key(b) || compareNames(a.key, b.key)) * direction)
    const folders = [...scan.folders].sort((a, b) => compareNames(a, b) * (sort === 'name' ? direction : 1))
    // Folders first, then objects: one sequence paged by offset.
    const all: Array<{ folder: string } | { object: ListedObject }> = [...folders.map((folder) => ({ folder })), ...objects.map((object) => ({ object }))]
    const slice = all.slice(offset, offset + limit)
    const end = offset + slice.length
    return {
      ...base,
      folders: slice.flatMap((e) => ('folder' in e ? [{ prefix: e.folder }] : [])),
      items: slice.flatMap((e) => ('object' in e ? [e.object] : [])),
      nextCursor: end < all.length ? `${SORTED_CURSOR}${scan.id}.${end}` : null,
      scanned: { objects: scan.objects.length, complete: scan.complete },
    }
  }

  private nameToken(cursor: string): string {
    if (!cursor.startsWith(NAME_CURSOR) || cursor.length === NAME_CURSOR.length) throw new ProblemError(problemOf(new SharedErrors.BAD_CURSOR('it is not a cursor for a listing by name, ascending')))
    return cursor.slice(NAME_CURSOR.length)
  }

  private sortedOffset(cursor: string): number {
    const match = /^s\.([A-Za-z0-9_-]{1,32})\.(\d{1,9})$/.exec(cursor)
    if (!match) throw new ProblemError(problemOf(new SharedErrors.BAD_CURSOR('it is not a cursor for a sorted listing')))
    return Number(match[2])
  }

  private async listPage(prefix: string, delimiter: string | null, maxKeys: number, token: string | undefined) {
    this.stats.listCalls++
    let page
    try {
      page = await this.s3.send(new ListObjectsV2Command({
        Bucket: this.bucket,
        MaxKeys: maxKeys,
        ...(prefix ? { Prefix: prefix } : {}),
        ...(delimiter ? { Delimiter: delimiter } : {}),
        ...(token ? { ContinuationToken: token } : {}),
      }))
    } catch (err) {
      const problem = toProblem(err, { action: 's3:ListBucket' })
      // S3 answers InvalidArgument for a continuation token it did not give.
      if (token && problem.awsErrorCode === 'InvalidArgument') throw new ProblemError(problemOf(new SharedErrors.BAD_CURSOR('S3 refused it')), { cause: err })
      throw new ProblemError(problem, { cause: err })
    }
    return {
      folders: (page.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').filter(Boolean),
      objects: (page.Contents ?? []).map((o): ListedObject => ({
        key: o.Key ?? '',
        size: o.Size ?? 0,
        lastModified: o.LastModified ? o.LastModified.toISOString() : null,
        etag: o.ETag ?? null,
      })),
      next: page.IsTruncated && page.NextContinuationToken ? page.NextContinuationToken : undefined,
    }
  }

  /** The whole level (up to maxSortScan objects), reused while fresh when the cursor names it. */
  private async scan(prefix: string, delimiter: string | null, wanted: string | undefined): Promise<Scan> {
    const memoKey = `${delimiter ?? ''}\u0000${prefix}`
    const memo = this.scans.get(memoKey)
    // A first page reads the level afresh (a new upload shows at once); the next pages reuse that reading.
    if (memo && wanted === memo.id && memo.at + this.memoMs > Date.now()) {
      this.stats.scanHits++
      return memo
    }
    this.stats.scans++
    const folders: string[] = []
    const objects: ListedObject[] = []
    let token: string | undefined
    let complete = true
    do {
      const page = await this.listPage(prefix, delimiter, 1000, token)
      folders.push(...page.folders)
      objects.push(...page.objects)
      token = page.next
      if (token && objects.length >= this.maxSortScan) {
        complete = false
        break
      }
    } while (token)
    const scan: Scan = { id: randomBytes(6).toString('base64url'), at: Date.now(), folders, objects, complete }
    this.scans.delete(memoKey)
    this.scans.set(memoKey, scan)
    if (this.scans.size > this.memoEntries) this.scans.delete(this.scans.keys().next().value!)
    return scan
  }
}
