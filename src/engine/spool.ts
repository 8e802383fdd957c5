import { EventEmitter } from 'node:events';
import { open, type FileHandle, unlink } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { DurableFileWriter } from '../storage/durable-file.js';
import { AbortedError } from '../errors.js';

const READ_CHUNK = 1024 * 1024;

/**
 * A download being written to a local file while any number of readers follow it.
 * Readers get bytes as soon as they are on disk (page cache), each at its own pace, so a
 * slow client never slows the upstream fetch or the other clients, and memory stays bounded.
 * The last byte is held back until the writer declares the body verified and committed: a reader can never
 * finish a response whose digest later turns out wrong.
 */
export class Spool extends EventEmitter {
  private fh: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  written = 0;
  /** Set when every byte is written and verified. */
  complete = false;
  failure: Error | undefined;
  private readers = 0;
  private closed = false;

  constructor(readonly path: string) {
    super();
    this.setMaxListeners(0);
  }

  private handle(): Promise<FileHandle> {
    this.opening ??= open(this.path, 'w+').then((fh) => (this.fh = fh));
    return this.opening;
  }

  /** The sink the fetch pipes into: appends flushed to disk as they go, progress announced per chunk. */
  writer(): Writable {
    return new DurableFileWriter(
      () => this.handle(),
      (total) => {
        this.written = total;
        this.emit('progress');
      },
    );
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
            const available = this.complete ? this.written : Math.max(0, this.written - 1);
            if (pos < available) {
              const fh = await this.handle();
              const len = Math.min(READ_CHUNK, available - pos);
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
