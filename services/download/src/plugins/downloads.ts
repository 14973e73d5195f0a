// The cache and the downloader as one domain plugin: the cache folder is prepared at boot (crash
// leftovers removed), swept periodically, and its index saved (transfers stopped, temporary files
// removed) when the app closes.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { FileCache } from '../cache.js'
import { Downloader } from '../downloader.js'
import { BucketLister } from '@kms-share/shared'
import { EncryptionLookup } from '../listing.js'

declare module 'fastify' {
  interface FastifyInstance {
    downloader: Downloader
    /** Objects' encryption details for listings: bounded, memoised HeadObject calls. */
    encryptionLookup: EncryptionLookup
    /** The bucket's listing: folder levels, sorting, cursors. */
    lister: BucketLister
  }
}

export interface DownloadsPluginOptions {
  bucket: string
  cacheDir: string
  cacheMaxBytes: number
  /** Bytes of small cached files also kept in memory. */
  cacheMemoryBytes?: number
  /** HeadObject calls in flight at most, across every listing. */
  headConcurrency?: number
  /** How long an object version's encryption details are reused (ms). */
  headMemoMs?: number
  /** Serve hits without asking S3 this long after its last word on the entry (ms); 0 always asks. */
  revalidateAfterMs?: number
  /** Revalidate every cached file this often (ms); 0 turns the sweep off. */
  sweepIntervalMs?: number
  /** Most objects of one level read to sort it by size or date. */
  listSortMaxObjects?: number
}

export const downloadsPlugin = fp(
  async function downloadsPlugin(app: FastifyInstance, options: DownloadsPluginOptions) {
    const log = app.log.child({ component: 'cache' })
    const cache = new FileCache(options.cacheDir, options.cacheMaxBytes, log, options.cacheMemoryBytes ?? 0)
    await cache.init()
    const downloader = new Downloader(app.s3, options.bucket, cache, log, options.revalidateAfterMs ?? 0)
    app.decorate('downloader', downloader)
    app.decorate('encryptionLookup', new EncryptionLookup(app.s3, options.bucket, options.headConcurrency ?? 8, options.headMemoMs ?? 30_000))
    app.decorate('lister', new BucketLister(app.s3, options.bucket, { maxSortScan: options.listSortMaxObjects ?? 50_000 }))
    downloader.startSweep(options.sweepIntervalMs ?? 0)
    app.addHook('onClose', async () => {
      downloader.close()
      await cache.close()
    })
  },
  { name: 'download-cache', fastify: '5.x', dependencies: ['kms-share-s3'] },
)
