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
  ) {
    super({ highWaterMark: 4 * 1024 * 1024 });
  }

  get bytesWritten(): number {
    return this.written;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.fh()
      .then(async (fh) => {
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, this.start + this.written);
          off += bytesWritten;
          this.written += bytesWritten;
        }
        this.sinceSync += chunk.length;
        this.onWritten?.(this.written);
        if (this.sinceSync >= SYNC_EVERY && !this.syncing) {
          this.sinceSync = 0;
          this.syncing = fh.datasync().finally(() => (this.syncing = undefined));
          this.syncing.catch(() => {});
        }
      })
      .then(() => cb(), cb);
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
