/**
 * Upload chunk buffers, reused from one upload to the next.
 *
 * A fresh buffer per body chunk is external memory to V8: a 1 GiB push through 1 MiB chunks forced ≈ 40 full
 * mark-compacts ("external memory pressure"), ≈ 1.2 s of the collector's helper threads plus main-thread pauses,
 * more CPU than hashing the bytes. With the chunks coming back here once their bytes are in the file, a push
 * allocates a handful of them.
 *
 * A chunk may only come back when nothing else can refer to its memory. Two parties vouch for that together:
 * the hash stream marks what its worker hands back (the sender's ArrayBuffer was detached by the transfer, so the
 * returned one is held by the stream's downstream alone: `markExclusive`), and a final consumer that keeps no
 * reference once it is done with a chunk gives it back (`recycleChunk`). Anything else is left to the collector.
 */

import { IdleBuffers } from './idle-buffers.js';

/** Size of a pooled chunk (the uWS engine's body buffers; the hash stream's batches). */
export const POOL_CHUNK = 1024 * 1024;
/** Idle chunks kept, process-wide (16 MiB at most): one upload in flight holds about ten. */
const POOL_MAX = 16;

const idle = new IdleBuffers(POOL_CHUNK, POOL_MAX);
const exclusive = new WeakSet<Buffer>();

/** A POOL_CHUNK-sized Buffer that owns its whole ArrayBuffer (transferable), reused when one is idle. */
export function takeChunk(): Buffer {
  return idle.take();
}

/** `b` (a view of an ArrayBuffer that just arrived from another thread) is referred to by no one else. */
export function markExclusive(b: Buffer): void {
  if (b.byteOffset === 0 && b.buffer.byteLength === POOL_CHUNK && !(b.buffer instanceof SharedArrayBuffer)) exclusive.add(b);
}

/** Whether `b` was marked exclusive and not recycled since. */
export function isExclusive(b: Buffer): boolean {
  return exclusive.has(b);
}

/** The caller is done with `b` and keeps no reference to it: pooled if it is an exclusive chunk, else ignored. */
export function recycleChunk(b: Buffer): void {
  if (!exclusive.has(b)) return;
  exclusive.delete(b);
  idle.give(b.length === POOL_CHUNK ? b : Buffer.from(b.buffer, 0, POOL_CHUNK));
}

/** Gives back a chunk the caller took with takeChunk and that nothing else refers to any more. */
export function returnChunk(b: Buffer): void {
  markExclusive(b);
  recycleChunk(b);
}

/** Idle chunks now (tests). */
export function idleChunks(): number {
  return idle.count;
}
