import { Transform, type TransformCallback } from 'node:stream';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { AbortedError } from '../errors.js';
import { isExclusive, markExclusive, POOL_CHUNK, takeChunk } from '../util/chunk-pool.js';
import { isHashAlgorithm } from './digest.js';
import type { FromWorker, StreamTask, StreamTaskResult, ToWorker } from './protocol.js';
import type { HashAlgorithm, HashingStream, HashResult, HashStreamOptions, HeldHash } from './types.js';

/** Starts a stream's worker task (transferring the port); settles when the task ends. */
export type RunTask = (task: StreamTask, transferList: [MessagePort]) => Promise<StreamTaskResult>;

export interface StreamTuning {
  /** Transferable chunks smaller than this are copied into a batch instead of crossing to the worker alone. */
  coalesceBelow: number;
  /** The same for chunks that must be copied anyway (slices, pooled Buffers): batching them is then free. */
  coalesceCopiedBelow: number;
  /** A batch is posted as soon as it holds this many bytes (else at the end of the event-loop turn). */
  coalesceTarget: number;
  /** Bytes batched + at the worker + hashed but not yet read downstream; above it writes wait. */
  maxBuffered: number;
}

// Measured on 2 cores (see the report in native-bench/hash-bench.mjs): a message round trip costs the main
// thread ≈10–20 µs, as much as hashing 16 KiB there; unbatched 16 KiB chunks ran at 720 MiB/s with the main
// thread busier than hashing them itself. Batches of up to 1 MiB run at the worker's full speed (≈1.6 GiB/s).
// An owned 64 KiB chunk costs the main thread less transferred alone than copied into a batch; a chunk that is
// copied anyway is cheaper batched. 2, 4 and 8 MiB in flight measured the same; 4 MiB leaves slack for jitter.
export const DEFAULT_TUNING: StreamTuning = {
  coalesceBelow: 64 * 1024,
  coalesceCopiedBelow: 256 * 1024,
  coalesceTarget: 1024 * 1024,
  maxBuffered: 4 * 1024 * 1024,
};

/** Capacity of a stream's first batch (see addToBatch). */
const FIRST_BATCH = 64 * 1024;
/**
 * A stream's first bytes go downstream at once, a copy of them to the worker: a remote's first byte to its clients
 * must not wait for a round trip to a worker that may be starting the task (2–7 ms measured here).
 */
const EARLY_BYTES = 256 * 1024;

/** True when the Buffer is the whole of an ArrayBuffer that may be handed to another thread. */
function ownsWholeBuffer(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer);
}

function copyToOwned(b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(b.byteLength);
  out.set(b);
  return out;
}

/** Checked, de-duplicated task parameters; throws TypeError/RangeError for options no caller should send. */
function taskParams(opts: HashStreamOptions): Omit<StreamTask, 'port'> {
  const resumable = Boolean(opts.resumable || opts.resumeFrom);
  const algorithms = new Set<HashAlgorithm>();
  for (const a of opts.algorithms) {
    if (!isHashAlgorithm(a)) throw new TypeError(`unknown hash algorithm "${String(a)}"`);
    algorithms.add(a);
  }
  if (resumable) algorithms.add('sha256');
  const from = opts.resumeFrom;
  if (from) {
    if (!(from.state instanceof Uint8Array)) throw new TypeError('resumeFrom.state must be a Uint8Array');
    if (!Number.isSafeInteger(from.size) || from.size < 0) throw new RangeError(`resumeFrom.size must be a byte count, got ${from.size}`);
  }
  if (opts.hold && resumable) throw new TypeError('hold keeps a node:crypto state: not with resumable or resumeFrom');
  if (opts.continueFrom && (resumable || opts.resumeFrom)) throw new TypeError('continueFrom goes on from a held state: not with resumable or resumeFrom');
  return { algorithms: [...algorithms], resumable, ...(from ? { resumeState: from.state } : {}), ...(opts.hold ? { hold: true } : {}) };
}

/** What a task's port and result are reported to: the stream using the task now. */
interface TaskOwner {
  onMessage(msg: FromWorker): void;
  onSettled(result: StreamTaskResult | undefined, err?: Error): void;
}

/**
 * One worker task (its port and its pending result), outliving a stream when held: messages and the settlement
 * go to whichever stream owns it now, so successive streams on one held task add no listeners.
 */
class TaskLink {
  owner: TaskOwner | undefined;
  settled = false;

  constructor(
    readonly port: MessagePort,
    task: Promise<StreamTaskResult>,
    /** Bytes hashed before the task started (resumeFrom). */
    readonly origin: number,
    readonly algorithms: readonly HashAlgorithm[],
  ) {
    port.on('message', (msg: FromWorker) => this.owner?.onMessage(msg));
    task.then(
      (r) => this.settle(r),
      (err: Error) => this.settle(undefined, err),
    );
  }

  private settle(r: StreamTaskResult | undefined, err?: Error): void {
    this.settled = true;
    this.port.close();
    this.owner?.onSettled(r, err);
  }
}

/** A held task between two streams. */
class HeldTask implements HeldHash {
  private used = false;

  constructor(
    readonly link: TaskLink,
    readonly size: number,
  ) {
    // An idle held state must not keep the process alive.
    link.port.unref();
  }

  get usable(): boolean {
    return !this.used && !this.link.settled;
  }

  /** For the stream that continues it; false if it cannot be. */
  take(): boolean {
    if (!this.usable) return false;
    this.used = true;
    this.link.port.ref();
    return true;
  }

  release(): void {
    if (!this.usable) return;
    this.used = true;
    // The worker drops the state and ends the task, which frees its slot.
    this.link.port.postMessage('abort');
  }
}

function sameAlgorithms(a: readonly HashAlgorithm[], b: readonly HashAlgorithm[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((x) => set.has(x));
}

/**
 * A pass-through stream whose hash state lives in one worker task. Chunks are posted on the task's port
 * (transferred) and pushed downstream when the worker hands them back, so the output order is the input
 * order. Memory per stream is bounded by `maxBuffered` plus the writable high-water mark.
 */
export class PooledHashStream extends Transform implements HashingStream, TaskOwner {
  readonly result: Promise<HashResult>;
  private readonly link: TaskLink;
  private readonly hold: boolean;
  private readonly tuning: StreamTuning;
  private inFlight = 0;
  /** Per message at the worker, in order: true for a copy whose original already went downstream. */
  private readonly copies: boolean[] = [];
  private early = EARLY_BYTES;
  private batch: Buffer | undefined;
  private batchLen = 0;
  private batchesPosted = 0;
  private batchTimer: NodeJS.Immediate | undefined;
  private heldWrite: TransformCallback | undefined;
  private heldFlush: TransformCallback | undefined;
  private endPosted = false;
  private resolveResult!: (r: HashResult) => void;
  private rejectResult!: (e: Error) => void;

  constructor(runTask: RunTask, opts: HashStreamOptions, tuning: StreamTuning = DEFAULT_TUNING) {
    const params = taskParams(opts);
    const from = opts.continueFrom;
    if (from) {
      if (!(from instanceof HeldTask) || !sameAlgorithms(from.link.algorithms, params.algorithms)) throw new TypeError('continueFrom must be a held hash of the same algorithms');
      if (!from.take()) throw new Error('the held hash is no longer usable');
    }
    super({ writableHighWaterMark: tuning.coalesceTarget, readableHighWaterMark: tuning.maxBuffered / 2 });
    this.tuning = tuning;
    this.hold = Boolean(opts.hold);
    this.result = new Promise<HashResult>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // Whoever wants the result awaits it; a stream destroyed before anyone did must not raise an unhandled rejection.
    this.result.catch(() => {});

    if (from) {
      this.link = from.link;
    } else {
      const { port1, port2 } = new MessageChannel();
      this.link = new TaskLink(port1, runTask({ port: port2, ...params }, [port2]), opts.resumeFrom?.size ?? 0, params.algorithms);
    }
    this.link.owner = this;
  }

  /** The worker's messages while this stream owns the task. */
  onMessage(msg: FromWorker): void {
    if (msg instanceof Uint8Array) this.onHashed(msg);
    else this.onHeldEnd(msg.end);
  }

  /** The task ended: the result of a stream that did not hold it, or a failure. */
  onSettled(r: StreamTaskResult | undefined, err?: Error): void {
    if (r && !this.hold) {
      this.resolveResult({ size: this.link.origin + r.size, digests: r.digests, ...(r.sha256State ? { sha256State: r.sha256State } : {}) });
      return;
    }
    const e = err ?? new Error('the hash task ended before the stream did');
    this.rejectResult(e);
    this.destroy(e);
  }

  private onHeldEnd(r: StreamTaskResult): void {
    this.link.owner = undefined;
    const held = new HeldTask(this.link, this.link.origin + r.size);
    const result: HashResult = { size: held.size, digests: r.digests };
    // Not asked to hold it (a last continuation), or destroyed meanwhile: nobody will continue it.
    if (!this.hold || this.destroyed) {
      held.release();
      this.resolveResult(result);
      return;
    }
    this.resolveResult({ ...result, held });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (chunk.byteLength > 0) {
      // A pool chunk its producer marked exclusive may be a partly filled one: it crosses to the worker all the same.
      const owned = ownsWholeBuffer(chunk) || isExclusive(chunk);
      if (this.early >= chunk.byteLength && this.buffered() === 0) {
        // Nothing is ahead of it: passing it on now keeps the order.
        this.early -= chunk.byteLength;
        this.post(copyToOwned(chunk), true);
        this.push(chunk);
      } else if (chunk.byteLength < (owned ? this.tuning.coalesceBelow : this.tuning.coalesceCopiedBelow)) this.addToBatch(chunk);
      else {
        this.postBatch();
        this.post(owned ? chunk : copyToOwned(chunk));
      }
    }
    if (this.buffered() < this.tuning.maxBuffered) cb();
    else this.heldWrite = cb;
  }

  override _read(size: number): void {
    super._read(size);
    // read() calls _read before it takes the data out of the buffer: look at the room once it has.
    process.nextTick(() => this.release());
  }

  override _flush(cb: TransformCallback): void {
    this.postBatch();
    this.heldFlush = cb;
    this.release();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.batchTimer) clearImmediate(this.batchTimer);
    this.batch = undefined;
    // The worker drops the stream, closes the port and fails the task, which frees its slot. (Closing the port
    // from here instead could lose the message and leave the task pending.)
    if (!this.link.settled && !this.endPosted) this.send('abort');
    this.rejectResult(err ?? new AbortedError('hash stream destroyed before its end'));
    cb(err);
  }

  /** Bytes this stream holds: batched, at the worker, or hashed and waiting to be read. */
  private buffered(): number {
    return this.batchLen + this.inFlight + this.readableLength;
  }

  private onHashed(chunk: Uint8Array): void {
    if (this.destroyed) return;
    this.inFlight -= chunk.byteLength;
    if (!this.copies.shift()) {
      const out = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      markExclusive(out);
      this.push(out);
    }
    this.release();
  }

  /** Lets a held write or the final flush proceed once there is room again. */
  private release(): void {
    if (this.destroyed) return;
    if (this.heldWrite && this.buffered() < this.tuning.maxBuffered) {
      const cb = this.heldWrite;
      this.heldWrite = undefined;
      cb();
    }
    if (this.heldFlush && this.inFlight === 0 && !this.endPosted) {
      const cb = this.heldFlush;
      this.heldFlush = undefined;
      this.endPosted = true;
      this.send('end');
      this.result.then(() => cb(), () => {}); // on failure the task's rejection destroys the stream
    }
  }

  private addToBatch(chunk: Buffer): void {
    const target = this.tuning.coalesceTarget;
    if (this.batch && this.batchLen + chunk.byteLength > this.batch.byteLength) this.postBatch();
    // Most streams are small (documents, small files): the first batch is sized for them, so such a stream does not
    // allocate (and leave to the collector) a whole coalesceTarget. A stream that goes on gets full-size batches.
    if (!this.batch) {
      const size = this.batchesPosted === 0 ? Math.min(target, Math.max(FIRST_BATCH, chunk.byteLength)) : target;
      this.batch = size === POOL_CHUNK ? takeChunk() : Buffer.allocUnsafeSlow(size);
    }
    chunk.copy(this.batch, this.batchLen);
    this.batchLen += chunk.byteLength;
    if (this.batchLen >= Math.min(target - this.tuning.coalesceCopiedBelow, this.batch.byteLength)) this.postBatch();
    // A slow trickle still goes out at the end of this event-loop turn: batching must not delay the bytes.
    else this.batchTimer ??= setImmediate(this.onBatchTimer);
  }

  private readonly onBatchTimer = (): void => {
    this.batchTimer = undefined;
    if (!this.destroyed) this.postBatch();
  };

  private postBatch(): void {
    if (this.batchTimer) {
      clearImmediate(this.batchTimer);
      this.batchTimer = undefined;
    }
    const batch = this.batch;
    const len = this.batchLen;
    if (!batch || len === 0) return;
    this.batchLen = 0;
    this.batchesPosted++;
    if (len >= batch.byteLength / 2) {
      this.batch = undefined;
      this.post(batch.subarray(0, len));
    } else {
      // A mostly empty batch would pin its whole capacity downstream; send a right-sized copy and reuse it.
      this.post(copyToOwned(batch.subarray(0, len)));
    }
  }

  /** Hand bytes to the worker; they come back (same memory) once hashed. `copy`: they went downstream already. */
  private post(chunk: Uint8Array, copy = false): void {
    this.inFlight += chunk.byteLength;
    this.copies.push(copy);
    try {
      this.send(chunk, [chunk.buffer as ArrayBuffer]);
    } catch {
      // An ArrayBuffer the runtime refuses to detach (marked untransferable): send a copy instead.
      const copy = copyToOwned(chunk);
      this.send(copy, [copy.buffer as ArrayBuffer]);
    }
  }

  private send(msg: ToWorker, transfer?: ArrayBuffer[]): void {
    this.link.port.postMessage(msg, transfer);
  }
}
