import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Digests, HashAlgorithm, Hasher, HashingStream, HashResult, HashStreamOptions } from './types.js';

/** Below this a chunk is coalesced with the next ones before crossing to the worker (message overhead). */
const COALESCE_BELOW = 256 * 1024;
const COALESCE_TARGET = 1024 * 1024;
/** Bytes handed to the worker and not yet acked: bounds memory and keeps the pipeline full. */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;

interface WorkerResult {
  size: number;
  digests: Digests;
  sha256State?: Uint8Array;
}

type Ack = { type: 'ack'; buf: ArrayBuffer; offset: number; length: number };

/** True when the Buffer is the whole of an ArrayBuffer we may hand away (not the shared pool, not a slice). */
function ownsBuffer(b: Buffer): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer) && b.byteLength > 0;
}

class PooledHashStream extends Transform implements HashingStream {
  readonly result: Promise<HashResult>;
  private readonly port: MessageChannel['port1'];
  private inFlight = 0;
  private pendingCb: TransformCallback | undefined;
  private flushCb: TransformCallback | undefined;
  private coalesce: Buffer | undefined;
  private coalesceLen = 0;
  private settled = false;
  private readonly task: Promise<WorkerResult>;

  constructor(pool: Piscina, private readonly opts: HashStreamOptions) {
    super({ highWaterMark: 4 * 1024 * 1024 });
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.task = pool.run(
      {
        port: port2,
        algorithms: opts.algorithms,
        resumable: Boolean(opts.resumable || opts.resumeFrom),
        resumeState: opts.resumeFrom?.state,
      },
      { transferList: [port2] },
    ) as Promise<WorkerResult>;
    this.result = this.task.then((r) => ({
      size: r.size + (opts.resumeFrom?.size ?? 0),
      digests: r.digests,
      ...(r.sha256State ? { sha256State: r.sha256State } : {}),
    }));
    // The result is awaited by whoever wants it; an aborted stream must not leave an unhandled rejection.
    this.result.catch(() => {});
    this.port.on('message', (m: Ack) => {
      this.inFlight -= m.length;
      this.push(Buffer.from(m.buf, m.offset, m.length));
      this.maybeContinue();
    });
    // Destroyed before the end: tell the worker to drop the stream; it closes the port and fails the task,
    // which frees its slot. (Closing the port here could drop the abort message and leave the task pending.)
    this.once('close', () => {
      if (!this.settled) {
        this.settled = true;
        this.port.postMessage({ type: 'abort' });
      }
    });
  }

  private maybeContinue(): void {
    if (this.pendingCb && this.inFlight < MAX_IN_FLIGHT) {
      const cb = this.pendingCb;
      this.pendingCb = undefined;
      cb();
    }
    if (this.flushCb && this.inFlight === 0) {
      const cb = this.flushCb;
      this.flushCb = undefined;
      this.finish(cb);
    }
  }

  /** Hand a chunk to the worker; it comes back (same memory) in the ack. */
  private send(buf: Buffer): void {
    const owned = ownsBuffer(buf) ? buf : copyOwned(buf);
    this.inFlight += owned.length;
    this.port.postMessage({ type: 'chunk', buf: owned.buffer, offset: 0, length: owned.length }, [owned.buffer as ArrayBuffer]);
  }

  private flushCoalesce(): void {
    if (this.coalesce && this.coalesceLen > 0) {
      const b = this.coalesceLen === this.coalesce.length ? this.coalesce : this.coalesce.subarray(0, this.coalesceLen);
      this.coalesce = undefined;
      this.coalesceLen = 0;
      this.send(b);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (chunk.length === 0) return cb();
    if (chunk.length < COALESCE_BELOW) {
      if (!this.coalesce) this.coalesce = Buffer.allocUnsafeSlow(COALESCE_TARGET);
      if (this.coalesceLen + chunk.length > this.coalesce.length) this.flushCoalesce();
      if (!this.coalesce) this.coalesce = Buffer.allocUnsafeSlow(COALESCE_TARGET);
      chunk.copy(this.coalesce, this.coalesceLen);
      this.coalesceLen += chunk.length;
      if (this.coalesceLen >= COALESCE_TARGET - COALESCE_BELOW) this.flushCoalesce();
    } else {
      this.flushCoalesce();
      this.send(chunk);
    }
    if (this.inFlight < MAX_IN_FLIGHT) cb();
    else this.pendingCb = cb;
  }

  override _flush(cb: TransformCallback): void {
    this.flushCoalesce();
    if (this.inFlight === 0) this.finish(cb);
    else this.flushCb = cb;
  }

  private finish(cb: TransformCallback): void {
    this.settled = true;
    this.port.postMessage({ type: 'end' });
    this.task.then(
      () => {
        this.port.close();
        cb();
      },
      (err: Error) => cb(err),
    );
  }
}

function copyOwned(b: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}

/**
 * The hashing service: a Piscina pool of worker threads for streams (the event loop stays free for I/O), and
 * synchronous node:crypto for small in-memory documents.
 */
export function createHasher(options: { threads?: number } = {}): Hasher {
  const threads = Math.max(1, options.threads ?? 2);
  const pool = new Piscina({
    filename: new URL('./worker.mjs', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    // Each stream's task stays pending for the stream's life; many streams share a thread.
    concurrentTasksPerWorker: 256,
    maxQueue: 'auto',
    idleTimeout: 60_000,
  });
  return {
    stream: (opts) => new PooledHashStream(pool, opts),
    digestBuffer(buf: Uint8Array, algorithms: HashAlgorithm[]): Digests {
      const out: Digests = {};
      for (const a of algorithms) out[a] = createHash(a).update(buf).digest('hex');
      return out;
    },
    close: () => pool.destroy(),
  };
}
