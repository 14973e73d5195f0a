/**
 * glibc malloc settings every kms-share Node process runs with (GLIBC_TUNABLES): the Docker image's
 * ENV, `pnpm start`, and the bench set it. Set it yourself when you run `node dist/server.js` another
 * way; a process without it works, only slower and less steady.
 *
 * Why: a Node process moving a large body allocates a 64 KiB buffer per socket read, and the garbage
 * collector frees them in bulk. With glibc's defaults, that freed memory goes back to the kernel and
 * the next reads fault it in again. A download service's cache miss then cost 2.0–5.7 CPU-s/GiB from one
 * run to the next (9 runs of 4 × 256 MiB), and an SDK GetObject 0.8–5.8 (`pnpm bench`, issue 14).
 * With a 64 MiB trim threshold the memory stays and is reused: 1.70–2.20 CPU-s/GiB for the same misses
 * (9 runs), for about 15 MiB more peak RSS (190–196 against 176–185 MiB after a 1 GiB miss and hit).
 * Setting a trim threshold turns off glibc's own mmap-threshold adjustment, so
 * the mmap threshold is fixed at 4 MiB to keep 1 MiB file-read buffers on the heap (without it, a plain
 * Node file server's 1 MiB reads cost 4.5 instead of 0.5 CPU-s/GiB). musl and other libcs ignore it.
 */
export const MALLOC_TUNABLES = 'glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=4194304'
