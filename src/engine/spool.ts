import { EventEmitter } from 'node:events';
import { open, type FileHandle, unlink } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { DurableFileWriter } from '../storage/durable-file.js';
import { AbortedError } from '../errors.js';
import { isExclusive, POOL_CHUNK, recycleChunk, returnChunk, takeChunk } from '../util/chunk-pool.js';
import type { Recyclable } from '../util/recyclable.js';

const READ_CHUNK = POOL_CHUNK;
/** Recent chunks kept in memory beyond those not in the file yet, for readers a little behind. */
const RECENT_BYTES = 4 * 1024 * 1024;

/**
 * The download stays at most this far ahead of its fastest reader, so that a reader that keeps up is always served
 * from memory. Without it the fetch ran ahead of a single fast client by more than the chunks kept in memory, and
 * that client then read the whole body back from the file (disk reads, and a fresh buffer per read).
 */
const PACE_BYTES = 2 * 1024 * 1024;
/**
 * How long the download waits for its fastest reader at a time: a client that stalls must not stall the upstream
 * transfer (the upstream would time out and fail it for everyone), so past this the download goes on into the file.
 */
const PACE_WAIT_MS = 1000;

/** A chunk of the body kept in memory for readers. */
interface Held {
  offset: number;
  chunk: Buffer;
  /** Views of it that readers pushed and their consumers have not handed back yet. */
  lent: number;
  /** Out of `recent`: no reader will take a new view of it. */
  dropped: boolean;
}

interface ReaderPosition {
  /** Bytes delivered. */
  pos: number;
  /** Whether the download waits for this reader (see pace). */
  paces: boolean;
}

/** A reader's stream: its consumer hands chunks back once their bytes are sent (see util/recyclable). */
type SpoolReader = Readable & Recyclable;

/**
 * A download being written to a local file while any number of readers follow it.
 * Readers that keep up get each chunk from memory as it arrives, and the download waits for the fastest of them
 * (PACE_BYTES); a reader that falls behind reads the file at its own pace, and one that stalls stops pacing it, so a
 * slow client never holds up the upstream fetch for long or slows the other clients, and memory stays bounded.
 * The last byte is held back until the writer declares the body verified: a reader can never finish a response
 * whose digest later turns out wrong.
 */
export class Spool extends EventEmitter {
  private fh: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  /** Bytes in the file (page cache). */
  written = 0;
  /** Bytes handed to the file write, some perhaps not in it yet. */
  private received = 0;
  /** The latest chunks, oldest first: every byte not in the file yet, and up to RECENT_BYTES more. */
  private recent: Held[] = [];
  private recentBytes = 0;
  /**
   * Held chunks from the upload chunk pool, by their memory: each goes back to the pool once it is in the file, out
   * of `recent`, and every view a reader lent out came back. A download then reuses a few megabytes instead of
   * leaving each chunk to the collector (external memory that forced a full collection every few tens of MB).
   */
  private readonly pooled = new Map<ArrayBufferLike, Held>();
  /** Set when every byte is written and verified. */
  complete = false;
  failure: Error | undefined;
  /** Where each open reader is (one entry per reader): the fastest one paces the download. */
  private readonly positions = new Set<ReaderPosition>();
  private paceWaiter: (() => void) | undefined;
  /** Pool chunks the readers read the file into, lent to their consumers until handed back. */
  private readonly fileLent = new Map<ArrayBufferLike, Buffer>();
  private closed = false;
  private sink: DurableFileWriter | undefined;

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
    this.sink = new DurableFileWriter({
      fh: () => this.handle(),
      gate: () => this.pace(),
      // No flushing during the transfer: a large blob's readers have their last byte before the commit's fsync (see
      // finish), and a body under the first background flush (64 MiB) never had one.
      backgroundSync: false,
      // Readers that fall behind then read the disk; the blob this becomes is read back into the cache when idle.
      ...(this.directAfter !== undefined ? { path: this.path, directAfter: this.directAfter, ...(this.expectedSize !== undefined ? { expectedSize: this.expectedSize } : {}) } : {}),
      onWritten: (total) => {
        this.written = total;
        this.trimRecent();
        this.emit('progress');
      },
      onChunk: (offset, chunk) => {
        // Readers that caught up take the bytes from here, before (and instead of) reading them back from the file.
        const held: Held = { offset, chunk, lent: 0, dropped: false };
        this.recent.push(held);
        if (isExclusive(chunk)) this.pooled.set(chunk.buffer, held);
        this.recentBytes += chunk.length;
        this.received = offset + chunk.length;
        this.trimRecent();
        this.emit('progress');
      },
    });
    return this.sink;
  }

  /** Whether some of the file was written around the page cache (its blob is read back into the cache once placed). */
  get wentDirect(): boolean {
    return this.sink?.wentDirect ?? false;
  }

  /**
   * Resolves when the fastest pacing reader is within PACE_BYTES of what arrived; undefined when it is already.
   * Readers that let the download wait PACE_WAIT_MS in vain stop pacing it: from then on it runs at the upstream's
   * speed and they read the file.
   */
  private pace(): Promise<void> | undefined {
    if (this.ahead() <= PACE_BYTES) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const p of this.positions) p.paces = false;
        done();
      }, PACE_WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        this.paceWaiter = undefined;
        resolve();
      };
      this.paceWaiter = () => {
        if (this.ahead() <= PACE_BYTES) done();
      };
    });
  }

  /** How far the download is ahead of its fastest pacing reader (0 when none paces it). */
  private ahead(): number {
    let fastest = -1;
    for (const p of this.positions) if (p.paces) fastest = Math.max(fastest, p.pos);
    return fastest < 0 ? 0 : this.received - fastest;
  }

  private trimRecent(): void {
    while (this.recent.length > 1 && this.recentBytes - this.recent[0]!.chunk.length >= RECENT_BYTES) {
      const oldest = this.recent[0]!;
      if (oldest.offset + oldest.chunk.length > this.written) break; // not in the file yet
      this.recent.shift();
      this.recentBytes -= oldest.chunk.length;
      oldest.dropped = true;
      this.giveBack(oldest);
    }
  }

  private giveBack(held: Held): void {
    if (!held.dropped || held.lent > 0 || this.pooled.get(held.chunk.buffer) !== held) return;
    this.pooled.delete(held.chunk.buffer);
    recycleChunk(held.chunk);
  }

  /** How far a reader may go given `total` bytes: all once complete, else short of the end (see the class). */
  private deliverable(total: number): number {
    if (this.complete) return total;
    if (this.expectedSize !== undefined) return Math.min(total, this.expectedSize - 1);
    return Math.max(0, total - 1);
  }

  /** Bytes from `pos` up to `end` out of the recent chunks, lent without copying; undefined when they are not there. */
  private fromMemory(pos: number, end: number): Buffer | undefined {
    const first = this.recent[0];
    if (!first || pos < first.offset) return undefined;
    for (const held of this.recent) {
      const { offset, chunk } = held;
      if (pos < offset + chunk.length) {
        if (this.pooled.get(chunk.buffer) === held) held.lent++;
        return chunk.subarray(pos - offset, Math.min(chunk.length, end - offset));
      }
    }
    return undefined;
  }

  private advance(at: ReaderPosition, n: number): void {
    at.pos += n;
    this.paceWaiter?.();
  }

  /** A reader's consumer is done with a view it was lent. */
  private returned(view: Buffer): void {
    const read = this.fileLent.get(view.buffer);
    if (read) {
      this.fileLent.delete(view.buffer);
      returnChunk(read);
      return;
    }
    const held = this.pooled.get(view.buffer);
    if (!held) return;
    held.lent--;
    this.giveBack(held);
  }

  /**
   * Mark the body complete and verified: readers may deliver the last byte. For a large body the commit follows
   * (see engine/remote), and the readers already here finish from this spool meanwhile (its file stays open).
   */
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
    return this.positions.size;
  }

  /** A reader from byte 0; it ends when the spool completes, errors when the spool fails. */
  reader(): SpoolReader {
    const at: ReaderPosition = { pos: 0, paces: true };
    this.positions.add(at);
    let waiting: (() => void) | undefined;
    const wake = () => {
      const w = waiting;
      waiting = undefined;
      w?.();
    };
    this.on('progress', wake);
    const release = () => {
      this.positions.delete(at);
      this.paceWaiter?.();
      this.off('progress', wake);
      this.emit('reader-gone');
    };
    let released = false;
    const r: SpoolReader = Object.assign(new Readable({
      highWaterMark: READ_CHUNK,
      read: () => {
        const step = async (): Promise<void> => {
          for (;;) {
            if (this.failure) throw this.failure;
            const available = this.deliverable(this.received);
            if (at.pos < available) {
              const mem = this.fromMemory(at.pos, available);
              if (mem) {
                this.advance(at, mem.length);
                r.push(mem);
                return;
              }
              // Fell behind the recent chunks: those bytes are in the file. Read into a pool chunk its consumer
              // hands back (see returned).
              const fh = await this.handle();
              const len = Math.min(READ_CHUNK, Math.min(this.written, available) - at.pos);
              const buf = takeChunk();
              const { bytesRead } = await fh.read(buf, 0, len, at.pos);
              if (bytesRead === 0) throw new Error('spool file shorter than written length');
              this.advance(at, bytesRead);
              this.fileLent.set(buf.buffer, buf);
              r.push(buf.subarray(0, bytesRead));
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
    }), {
      // Views of pool chunks (held ones, and those a read from the file filled) go back; anything else is ignored.
      recycle: (chunk: Buffer) => this.returned(chunk),
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
    if (this.positions.size > 0) {
      await new Promise<void>((resolve) => {
        const check = () => {
          if (this.positions.size === 0) {
            this.off('reader-gone', check);
            resolve();
          }
        };
        this.on('reader-gone', check);
      });
    }
    if (this.closed) return;
    this.closed = true;
    // Complete: every byte is in the file and no reader will take another view (after a failure a write may still hold one).
    if (this.complete) {
      for (const held of this.recent) {
        held.dropped = true;
        this.giveBack(held);
      }
    }
    this.recent = [];
    await this.fh?.close().catch(() => {});
    await unlink(this.path).catch(() => {});
  }

  /** Used by the fetch when its last reader left early. */
  static abortedError(): Error {
    return new AbortedError('every client of this download went away');
  }
}
