import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { recycleChunk } from '../util/chunk-pool.js';
import { BLOCK, DirectAppender, openDirect } from './direct-io.js';
import { beginTransfer } from './transfers.js';

/** Flush to disk in the background every this many bytes, so the final fsync has little left to do. */
const SYNC_EVERY = 64 * 1024 * 1024;
/**
 * A file with a path switches to O_DIRECT past this offset (from its first byte when its announced length is
 * larger: see expectedSize). Below it, files stay in the page cache as they are written, so what was just pushed
 * is served from memory; above it the write speed matters more, and the file is read back into the cache in the
 * background (see warmPageCache). It was 64 MiB; medians of 6–8 alternating runs here with 16 MiB against that:
 * a 64 MiB push 249 → 453 MiB/s (its pull right after, from disk, 2 104 → 686), 40 MiB 250 → 539, 24 MiB
 * 285 → 328; a 64 MiB cold pull through a remote 224 → 555 MiB/s and 40 MiB 267 → 490 (distribution's proxy
 * 617–663). Below the threshold the buffered bytes are written back in the commit's fsync, after the transfer,
 * where direct writes overlap it; 16 and 4 MiB blobs measured the same either way.
 */
export const DIRECT_AFTER = 16 * 1024 * 1024;

export interface DurableFileOptions {
  /** The file's ordinary handle, opened (and closed) by the owner; opening it creates the file. */
  fh: () => Promise<FileHandle>;
  /** The file's path: given, the bytes go out with O_DIRECT where the filesystem allows it (see DirectAppender). */
  path?: string;
  /** Where in the file the first byte goes (appending to an existing upload). */
  start?: number;
  /** File offset past which writes go direct (default DIRECT_AFTER). */
  directAfter?: number;
  /**
   * The body's announced length (from `start`), when known: a body that will pass `directAfter` goes direct from
   * its first byte. Its first bytes in the page cache would save little (the file is read back into the cache when
   * idle), and filling the cache costs more CPU here than writing around it: in a 512 MiB remote download, the
   * first 64 MiB written through the cache took ≈ 8 % of the server's CPU samples.
   */
  expectedSize?: number;
  /** Reports how many bytes (from `start`) are in the file, as that grows: readers may follow the file. */
  onWritten?: (total: number) => void;
  /** Awaited before each write is accepted: a tee's readers may hold the writer back (see Spool). */
  gate?: () => Promise<void> | undefined;
  /** Sees each chunk, with its offset from `start`, as it is accepted (before it is in the file). */
  onChunk?: (offset: number, chunk: Buffer) => void;
  /**
   * The writer is the last holder of the chunks it is given (no tee, no onChunk that keeps them): it hands them to
   * the upload chunk pool once their bytes are in the file (see util/chunk-pool).
   */
  recycle?: boolean;
  /**
   * Flush in the background every SYNC_EVERY bytes (default true). Off for a writer whose final fsync nobody waits
   * for (a remote download's spool, committed after its clients have their bytes): on this kind of VM each
   * `fdatasync` also flushes the host's cache and stalls the direct writes behind it, and without them a 512 MiB
   * spool went from 420–450 to 480–590 MiB/s (the commit's fsync then takes ≈ 330 ms more, after the last byte).
   */
  backgroundSync?: boolean;
}

/**
 * Appends to a file and keeps the disk busy during the transfer, so that the commit's fsync has little left to do.
 * With a path, the bytes past `directAfter` bypass the page cache (O_DIRECT) in aligned slabs. Otherwise (or where
 * the filesystem refuses it) they are ordinary writes flushed by a background `fdatasync` every 64 MiB, because the
 * kernel would keep a multi-GB upload dirty and write it all in the commit's fsync after the transfer.
 */
export class DurableFileWriter extends Writable {
  /** Bytes accepted (from `start`). */
  private accepted = 0;
  private sinceSync = 0;
  private syncing: Promise<void> | undefined;
  private direct: Promise<DirectAppender | null> | undefined;
  private readonly start: number;
  /** File offset past which writes go direct. */
  private readonly directAfter: number;
  private usedDirect = false;
  private readonly ended = beginTransfer();

  constructor(private readonly opts: DurableFileOptions) {
    super({ highWaterMark: 4 * 1024 * 1024 });
    this.start = opts.start ?? 0;
    const after = opts.directAfter ?? DIRECT_AFTER;
    this.directAfter = opts.expectedSize !== undefined && this.start + opts.expectedSize > after ? 0 : after;
  }

  get bytesWritten(): number {
    return this.accepted;
  }

  /** Whether some of the bytes went around the page cache (O_DIRECT). */
  get wentDirect(): boolean {
    return this.usedDirect;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeAll([chunk]).then(() => this.written([chunk], cb), cb);
  }

  // Chunks that queued while the previous write was in the thread pool go out together: when the event loop is busy
  // (a push on 2 cores), one write per turn left the disk idle between turns (≈ 390 → 240 MiB/s measured).
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    this.writeAll(buffers).then(() => this.written(buffers, cb), cb);
  }

  private written(buffers: Buffer[], cb: () => void): void {
    if (this.opts.recycle) for (const b of buffers) recycleChunk(b);
    cb();
  }

  /** The direct appender, made when the body turned out large, at a block boundary where the bytes go on. */
  private appender(): Promise<DirectAppender | null> {
    this.direct ??= (async () => {
      const fh = await this.opts.fh();
      const dfh = await openDirect(this.opts.path!);
      return dfh && new DirectAppender(dfh, fh, this.start + this.accepted, (end) => this.inFile(end - this.start));
    })();
    return this.direct;
  }

  private inFile(total: number): void {
    this.opts.onWritten?.(total);
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    const gate = this.opts.gate?.();
    if (gate) await gate;
    if (this.opts.onChunk) {
      let offset = this.accepted;
      for (const b of buffers) {
        this.opts.onChunk(offset, b);
        offset += b.length;
      }
    }
    const total = buffers.reduce((n, b) => n + b.length, 0);
    if (!this.direct) {
      if (!this.opts.path || this.start + this.accepted + total <= this.directAfter) return this.writeBuffered(buffers, total);
      // Direct writes begin on a block boundary: the bytes up to it go the ordinary way.
      const toBoundary = (BLOCK - ((this.start + this.accepted) % BLOCK)) % BLOCK;
      if (toBoundary >= total) return this.writeBuffered(buffers, total);
      const [head, rest] = split(buffers, toBoundary);
      if (toBoundary > 0) await this.writeBuffered(head, toBoundary);
      return this.writeDirect(await this.appender(), rest, total - toBoundary);
    }
    return this.writeDirect(await this.direct, buffers, total);
  }

  /** Through the appender, or the ordinary way where the filesystem refused O_DIRECT. */
  private async writeDirect(direct: DirectAppender | null, buffers: Buffer[], total: number): Promise<void> {
    if (!direct) return this.writeBuffered(buffers, total);
    this.usedDirect = true;
    await direct.append(buffers);
    this.accepted += total;
    this.counted(total);
  }

  private async writeBuffered(buffers: Buffer[], total: number): Promise<void> {
    const fh = await this.opts.fh();
    let done = 0;
    while (done < total) {
      const { bytesWritten } = await fh.writev(done === 0 ? buffers : split(buffers, done)[1], this.start + this.accepted);
      done += bytesWritten;
      this.accepted += bytesWritten;
    }
    this.inFile(this.accepted);
    this.counted(total);
  }

  /**
   * Starts a background `fdatasync` every SYNC_EVERY bytes. Buffered bytes are written back then rather than all in
   * the commit's fsync; direct writes leave the file's new extents to the journal, which the commit's fsync would
   * otherwise write all at once (150–300 ms for 512 MiB measured here).
   */
  private counted(total: number): void {
    if (this.opts.backgroundSync === false) return;
    this.sinceSync += total;
    if (this.sinceSync >= SYNC_EVERY && !this.syncing) {
      this.sinceSync = 0;
      this.syncing = this.opts.fh().then((fh) => fh.datasync()).finally(() => (this.syncing = undefined));
      this.syncing.catch(() => {});
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    // Opening the file here too creates it for an empty body, which never reached _write. A background flush
    // finishes before the file is declared complete (and fsynced by the commit).
    (async () => {
      await this.opts.fh();
      const direct = await this.direct;
      if (direct) {
        try {
          await direct.finish();
        } finally {
          await this.closeDirect();
        }
        // The last slab went out padded to a block.
        await (await this.opts.fh()).truncate(this.start + this.accepted);
        this.inFile(this.accepted);
      }
      await this.syncing;
    })().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.ended();
    this.closeDirect().then(
      () => cb(err),
      () => cb(err),
    );
  }

  private async closeDirect(): Promise<void> {
    const pending = this.direct;
    if (!pending) return;
    const direct = await pending.catch(() => null);
    if (!direct) return;
    this.direct = Promise.resolve(null);
    await direct.close();
  }

  /** Make everything written durable (an append must survive a crash before the client is told 202). */
  async flush(): Promise<void> {
    await this.syncing;
    await (await this.opts.fh()).datasync();
  }
}

/** The buffers cut after `n` bytes: [the first n bytes, the rest] (for a short writev, or a switch of mode). */
function split(buffers: Buffer[], n: number): [Buffer[], Buffer[]] {
  const head: Buffer[] = [];
  const tail: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) head.push(b);
    else if (n <= 0) tail.push(b);
    else {
      head.push(b.subarray(0, n));
      tail.push(b.subarray(n));
    }
    n -= b.length;
  }
  return [head, tail];
}
