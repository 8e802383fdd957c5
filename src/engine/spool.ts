import { EventEmitter } from 'node:events';
import { open, type FileHandle, unlink } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { DurableFileWriter } from '../storage/durable-file.js';
import { AbortedError } from '../errors.js';

const READ_CHUNK = 1024 * 1024;
/** Recent chunks kept in memory beyond those not in the file yet, for readers a little behind. */
const RECENT_BYTES = 4 * 1024 * 1024;

/**
 * A download being written to a local file while any number of readers follow it.
 * Readers that keep up get each chunk from memory as it arrives; a reader that falls behind reads the file (page
 * cache) at its own pace, so a slow client never slows the upstream fetch or the other clients, and memory
 * stays bounded.
 * The last byte is held back until the writer declares the body verified and committed: a reader can never
 * finish a response whose digest later turns out wrong.
 */
export class Spool extends EventEmitter {
  private fh: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  /** Bytes in the file (page cache). */
  written = 0;
  /** Bytes handed to the file write, some perhaps not in it yet. */
  private received = 0;
  /** The latest chunks, oldest first: every byte not in the file yet, and up to RECENT_BYTES more. */
  private recent: { offset: number; chunk: Buffer }[] = [];
  private recentBytes = 0;
  /** Set when every byte is written and verified. */
  complete = false;
  failure: Error | undefined;
  private readers = 0;
  private closed = false;

  constructor(
    readonly path: string,
    /**
     * The body's announced length, when there is one: readers may then deliver everything but the last byte of
     * it before the end. Without it they stay one byte behind what arrived.
     */
    private readonly expectedSize?: number,
    /** Bytes past this offset go around the page cache (O_DIRECT where the filesystem allows it); unset: none. */
    private readonly directAfter?: number,
  ) {
    super();
    this.setMaxListeners(0);
  }

  private handle(): Promise<FileHandle> {
    this.opening ??= open(this.path, 'w+').then((fh) => (this.fh = fh));
    return this.opening;
  }

  /** The sink the fetch pipes into: appends flushed to disk as they go, progress announced per chunk. */
  writer(): Writable {
    return new DurableFileWriter({
      fh: () => this.handle(),
      // Readers that fall behind then read the disk; the blob this becomes is read back into the cache when idle.
      ...(this.directAfter !== undefined ? { path: this.path, directAfter: this.directAfter } : {}),
      onWritten: (total) => {
        this.written = total;
        this.trimRecent();
        this.emit('progress');
      },
      onChunk: (offset, chunk) => {
        // Readers that caught up take the bytes from here, before (and instead of) reading them back from the file.
        this.recent.push({ offset, chunk });
        this.recentBytes += chunk.length;
        this.received = offset + chunk.length;
        this.trimRecent();
        this.emit('progress');
      },
    });
  }

  private trimRecent(): void {
    while (this.recent.length > 1 && this.recentBytes - this.recent[0]!.chunk.length >= RECENT_BYTES) {
      const oldest = this.recent[0]!;
      if (oldest.offset + oldest.chunk.length > this.written) break; // not in the file yet
      this.recent.shift();
      this.recentBytes -= oldest.chunk.length;
    }
  }

  /** How far a reader may go given `total` bytes: all once complete, else short of the end (see the class). */
  private deliverable(total: number): number {
    if (this.complete) return total;
    if (this.expectedSize !== undefined) return Math.min(total, this.expectedSize - 1);
    return Math.max(0, total - 1);
  }

  /** Bytes from `pos` up to `end` out of the recent chunks, without copying; undefined when they are not there. */
  private fromMemory(pos: number, end: number): Buffer | undefined {
    const first = this.recent[0];
    if (!first || pos < first.offset) return undefined;
    for (const { offset, chunk } of this.recent) {
      if (pos < offset + chunk.length) return chunk.subarray(pos - offset, Math.min(chunk.length, end - offset));
    }
    return undefined;
  }

  /** Mark the body complete, verified and committed: readers may deliver the last byte. */
  finish(): void {
    this.complete = true;
    this.emit('progress');
  }

  fail(err: Error): void {
    if (this.complete || this.failure) return;
    this.failure = err;
    this.emit('progress');
  }

  get readerCount(): number {
    return this.readers;
  }

  /** A reader from byte 0; it ends when the spool completes, errors when the spool fails. */
  reader(): Readable {
    this.readers++;
    let pos = 0;
    let waiting: (() => void) | undefined;
    const wake = () => {
      const w = waiting;
      waiting = undefined;
      w?.();
    };
    this.on('progress', wake);
    const release = () => {
      this.off('progress', wake);
      this.readers--;
      this.emit('reader-gone');
    };
    let released = false;
    const r = new Readable({
      highWaterMark: READ_CHUNK,
      read: () => {
        const step = async (): Promise<void> => {
          for (;;) {
            if (this.failure) throw this.failure;
            const available = this.deliverable(this.received);
            if (pos < available) {
              const mem = this.fromMemory(pos, available);
              if (mem) {
                pos += mem.length;
                r.push(mem);
                return;
              }
              // Fell behind the recent chunks: those bytes are in the file.
              const fh = await this.handle();
              const len = Math.min(READ_CHUNK, Math.min(this.written, available) - pos);
              const buf = Buffer.allocUnsafeSlow(len);
              const { bytesRead } = await fh.read(buf, 0, len, pos);
              if (bytesRead === 0) throw new Error('spool file shorter than written length');
              pos += bytesRead;
              r.push(bytesRead === len ? buf : buf.subarray(0, bytesRead));
              return;
            }
            if (this.complete) {
              r.push(null);
              return;
            }
            await new Promise<void>((resolve) => (waiting = resolve));
          }
        };
        step().catch((err: Error) => r.destroy(err));
      },
      destroy: (err, cb) => {
        if (!released) {
          released = true;
          release();
        }
        cb(err);
      },
    });
    r.once('end', () => {
      if (!released) {
        released = true;
        release();
      }
    });
    return r;
  }

  /** Close and remove the file once nobody reads it any more (open readers keep it alive). */
  async dispose(): Promise<void> {
    if (this.closed) return;
    if (this.readers > 0) {
      await new Promise<void>((resolve) => {
        const check = () => {
          if (this.readers === 0) {
            this.off('reader-gone', check);
            resolve();
          }
        };
        this.on('reader-gone', check);
      });
    }
    if (this.closed) return;
    this.closed = true;
    await this.fh?.close().catch(() => {});
    await unlink(this.path).catch(() => {});
  }

  /** Used by the fetch when its last reader left early. */
  static abortedError(): Error {
    return new AbortedError('every client of this download went away');
  }
}
