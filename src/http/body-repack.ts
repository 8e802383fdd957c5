import { POOL_CHUNK, takeChunk } from '../util/chunk-pool.js';

/**
 * Copies a request body's bytes, as the engine receives them, into chunks of POOL_CHUNK bytes from the upload chunk
 * pool, so that downstream stages see few, whole, transferable buffers that come back to the pool once written.
 *
 * uWS lends each piece only for its callback, so a copy is needed anyway. node:http hands over a fresh Buffer per
 * socket read (≈ 64 KiB): passed on as they were, a 1 GiB push made ≈ 16 000 of them cross to the hashing worker
 * and back, and their memory (new to V8 each time) forced a full mark-compact every ≈ 25 MiB ("external memory
 * pressure"): 50–85 per GiB, ≈ 1 s of the collector's helper threads.
 *
 * A body is held back until a chunk fills or the body ends: every consumer here wants the whole body.
 */
export class BodyRepacker {
  private acc: Buffer | undefined;
  private accLen = 0;
  private copied = 0;

  /** `expectedLength`: the announced Content-Length, if any; a small body gets a buffer of its size, not a pool chunk. */
  constructor(private readonly expectedLength?: number) {}

  /** Copies `src` in and hands each chunk that fills to `emit`; returns what the last `emit` returned (true if none). */
  add(src: Uint8Array, emit: (chunk: Buffer, endsSrc: boolean) => boolean): boolean {
    let ok = true;
    let off = 0;
    while (off < src.length) {
      if (!this.acc) {
        const left = this.expectedLength !== undefined ? this.expectedLength - this.copied : 0;
        const size = left > 0 ? Math.min(POOL_CHUNK, left) : POOL_CHUNK;
        this.acc = size === POOL_CHUNK ? takeChunk() : Buffer.allocUnsafeSlow(size);
        this.accLen = 0;
      }
      const n = Math.min(this.acc.length - this.accLen, src.length - off);
      this.acc.set(off === 0 && n === src.length ? src : src.subarray(off, off + n), this.accLen);
      this.accLen += n;
      this.copied += n;
      off += n;
      if (this.accLen === this.acc.length) {
        const full = this.acc;
        this.acc = undefined;
        ok = emit(full, off === src.length);
      }
    }
    return ok;
  }

  /** The bytes held back once the body has ended (undefined if none); the repacker is empty afterwards. */
  rest(): Buffer | undefined {
    const rest = this.acc && this.accLen > 0 ? this.acc.subarray(0, this.accLen) : undefined;
    this.drop();
    return rest;
  }

  /** Forgets the bytes held back (the body failed). */
  drop(): void {
    this.acc = undefined;
    this.accLen = 0;
  }
}
