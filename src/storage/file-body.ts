import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { POOL_CHUNK, returnChunk, takeChunk } from '../util/chunk-pool.js';
import { IdleBuffers } from '../util/idle-buffers.js';
import type { Recyclable } from '../util/recyclable.js';
import { beginTransfer, transfersInProgress } from './transfers.js';

/** Read size of a file body while more than FEW_TRANSFERS transfers run: an eighth of the memory per transfer. */
export const FILE_CHUNK = 256 * 1024;
/**
 * With this many transfers or fewer running, a body reads LARGE_CHUNK at a time (its last 1–2 MiB into a pool
 * chunk, see util/chunk-pool): fewer reads and socket writes per GiB. Past it, memory per transfer matters more (a
 * transfer holds up to three chunks: sending, buffered, read ahead): up to 96 MiB for 16 transfers.
 * - A warm 1 GiB pull went from 2.83–3.07 to 2.97–3.40 GiB/s on uWS and from 2.79–3.14 to 2.99–3.27 on node:http
 *   with 2 MiB reads instead of 1 MiB (alternating runs with distribution at 2.3–2.7).
 * - 16 concurrent pulls of 64 MiB blobs ran at 2.4–3.3 GiB/s with 1 MiB reads against 1.9–2.3 with FILE_CHUNK
 *   reads; with 2 MiB reads (this limit was 4 transfers, 16 the limit for 1 MiB ones) uWS went from medians of
 *   2 036–2 480 to 2 692–3 064 MiB/s (three series of 6 alternating pulls; node:http +8 %, one series of 4), the
 *   server's main thread busy 290–330 ms instead of 310–400, peak RSS 318–356 MiB instead of 271–315.
 */
export const FEW_TRANSFERS = 16;
export const LARGE_CHUNK = 2 * POOL_CHUNK;
/**
 * Idle LARGE_CHUNK buffers kept: as many as FEW_TRANSFERS transfers hold at once (three each, 96 MiB), for one to two
 * minutes after the last was taken, then 6 (12 MiB). Rounds of 16 concurrent pulls of 64 MiB (scratch series, perf
 * on page faults): with 6 kept, and a buffer or two of every pull lost (see _read and _destroy), each round read into
 * 10–33 fresh buffers and took up to 12 k page faults in pread, ≈ 9–20 µs each on this VM (its host takes freed
 * memory back); with 48 kept and none lost, from the second round on none was allocated and none faulted, and the
 * server's RSS stayed at 260 MiB where it had climbed to 306–348.
 */
const largeBuffers = new IdleBuffers(LARGE_CHUNK, 3 * FEW_TRANSFERS, { floor: 6, idleMs: 60_000 });
/** Idle FILE_CHUNK buffers kept for reuse, process-wide (64 × 256 KiB = 16 MiB at most). */
const fileBuffers = new IdleBuffers(FILE_CHUNK, 64);

type AheadRead = Promise<{ buf: Buffer; bytesRead: number; pooled: boolean; left: number }>;

/**
 * A file (or a byte range of it) as a stream whose chunk buffers can be given back and read into again.
 * A fresh buffer per chunk is external memory to V8: at GB/s it forced a full mark-compact every few tens of MB
 * (the collector took ≈ 20 % of the main thread in 16 concurrent downloads, against 3 % for a bare server).
 * Consumers that do not recycle get ordinary buffers that the collector takes back.
 */
export class FileBody extends Readable implements Recyclable {
  private pos: number;
  /** Buffers of ours that are downstream now, by their memory: only these may come back. */
  private readonly out = new Map<ArrayBufferLike, Buffer>();
  private reading = false;
  /** The next chunk's read, issued while the previous chunk goes out. */
  private ahead: AheadRead | undefined;
  private readonly ended = beginTransfer();

  constructor(
    private readonly fh: FileHandle,
    start: number,
    /** Last byte to read, inclusive (as fs ranges are); Infinity reads to the end of the file. */
    private readonly end: number,
  ) {
    super({ highWaterMark: 4 * FILE_CHUNK });
    this.pos = start;
  }

  recycle(chunk: Buffer): void {
    const whole = this.out.get(chunk.buffer);
    if (!whole) return;
    this.out.delete(chunk.buffer);
    this.giveBack(whole, true);
  }

  override _read(): void {
    if (this.reading) return;
    if (this.end - this.pos + 1 <= 0) {
      this.push(null);
      return;
    }
    // A read issued ahead is for the current position (it is issued only after a full read).
    const next = this.ahead ?? this.issue(this.pos);
    this.ahead = undefined;
    this.reading = true;
    next.then(
      ({ buf, bytesRead, pooled, left }) => {
        this.reading = false;
        // A buffer that carries no bytes downstream goes straight back: the read past the end of a whole file (its
        // length a multiple of the chunk) is one per pull.
        if (this.destroyed || bytesRead === 0) this.giveBack(buf, pooled);
        if (this.destroyed) return;
        if (bytesRead === 0) {
          if (this.end === Infinity) this.push(null);
          else this.destroy(new Error(`file ended ${left} bytes before the expected end`));
          return;
        }
        this.pos += bytesRead;
        if (pooled) this.out.set(buf.buffer, buf);
        // The next read goes out before this chunk does: the disk or page-cache copy overlaps the socket write
        // (one after the other, a warm pull ran at the sum of the two).
        if (this.pos <= this.end && bytesRead === buf.length) this.ahead = this.issue(this.pos);
        if (this.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead)) && this.pos > this.end) this.push(null);
      },
      (err: Error) => {
        this.reading = false;
        this.destroy(err);
      },
    );
  }

  /** Starts reading the chunk at `at` into a buffer sized for what is left. */
  private issue(at: number): AheadRead {
    const left = this.end - at + 1;
    const running = transfersInProgress();
    let buf: Buffer;
    let pooled = true;
    if (left >= LARGE_CHUNK && running <= FEW_TRANSFERS) buf = largeBuffers.take();
    else if (left >= POOL_CHUNK && running <= FEW_TRANSFERS) buf = takeChunk();
    else if (left >= FILE_CHUNK) buf = fileBuffers.take();
    else {
      // A body smaller than a chunk gets a buffer of its own size: it is typically kept (small-blob cache), not recycled.
      buf = Buffer.allocUnsafeSlow(left);
      pooled = false;
    }
    const done = this.fh.read(buf, 0, Math.min(buf.length, left), at).then(({ bytesRead }) => ({ buf, bytesRead, pooled, left }));
    done.catch(() => {}); // a read ahead that nobody takes (the stream was destroyed) must not be unhandled
    return done;
  }

  private giveBack(buf: Buffer, pooled: boolean): void {
    if (!pooled) return;
    if (buf.length === LARGE_CHUNK) largeBuffers.give(buf);
    else if (buf.length === POOL_CHUNK) returnChunk(buf);
    else fileBuffers.give(buf);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.ended();
    // `out` is kept: the last chunks are still downstream when the stream ends (the socket has yet to take them), and
    // they come back through recycle afterwards. Forgotten here, every transfer left its last buffer or two to the
    // collector, and the next ones were read into fresh memory: 16 new 2 MiB buffers per round of 16 concurrent pulls
    // (with 64 idle ones allowed), 4–12 k page faults a round in pread (perf), faulted in from the host on this VM.
    const ahead = this.ahead;
    this.ahead = undefined;
    void ahead?.then((r) => this.giveBack(r.buf, r.pooled), () => {});
    this.fh.close().then(
      () => cb(err),
      () => cb(err),
    );
  }
}
