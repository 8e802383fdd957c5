import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** Flush to disk in the background every this many bytes, so the final fsync has little left to do. */
const SYNC_EVERY = 64 * 1024 * 1024;

/**
 * Appends to a file while flushing it to disk as it grows. The kernel would otherwise keep a multi-GB upload
 * dirty in the page cache and write it all in the commit's fsync, after the network transfer — the disk then
 * idles during the upload and the client waits during the flush. Background `fdatasync` overlaps the two.
 * `onWritten` reports each chunk once it is in the file (readers may follow the file).
 */
export class DurableFileWriter extends Writable {
  private written = 0;
  private sinceSync = 0;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly fh: () => Promise<FileHandle>,
    private readonly onWritten?: (total: number) => void,
    /** Where in the file the first byte goes (appending to an existing upload). */
    private readonly start = 0,
    /** Sees each chunk, with its offset from `start`, as it enters the file write (before the write completes). */
    private readonly onChunk?: (offset: number, chunk: Buffer) => void,
  ) {
    super({ highWaterMark: 4 * 1024 * 1024 });
  }

  get bytesWritten(): number {
    return this.written;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeAll([chunk]).then(() => cb(), cb);
  }

  // Chunks that queued while the previous write was in the thread pool go out in one writev: when the event loop
  // is busy (a push on 2 cores), one-write-per-turn left the disk idle between turns (≈390 → 240 MiB/s measured).
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.writeAll(chunks.map((c) => c.chunk)).then(() => cb(), cb);
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    if (this.onChunk) {
      // Writes are one at a time, so what is written so far is where these begin.
      let offset = this.written;
      for (const b of buffers) {
        this.onChunk(offset, b);
        offset += b.length;
      }
    }
    const fh = await this.fh();
    const total = buffers.reduce((n, b) => n + b.length, 0);
    let done = 0;
    while (done < total) {
      const { bytesWritten } = await fh.writev(done === 0 ? buffers : remainder(buffers, done), this.start + this.written);
      done += bytesWritten;
      this.written += bytesWritten;
    }
    this.sinceSync += total;
    this.onWritten?.(this.written);
    if (this.sinceSync >= SYNC_EVERY && !this.syncing) {
      this.sinceSync = 0;
      this.syncing = fh.datasync().finally(() => (this.syncing = undefined));
      this.syncing.catch(() => {});
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    // Let a background flush finish before the file is declared complete (and fsynced by the commit). Opening
    // the file here too creates it for an empty body, which never reached _write.
    Promise.all([this.fh(), this.syncing]).then(() => cb(), cb);
  }

  /** Make everything written durable (an append must survive a crash before the client is told 202). */
  async flush(): Promise<void> {
    await this.syncing;
    await (await this.fh()).datasync();
  }
}

/** The buffers after the first `skip` bytes (a short writev). */
function remainder(buffers: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (skip >= b.length) skip -= b.length;
    else {
      out.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return out;
}
