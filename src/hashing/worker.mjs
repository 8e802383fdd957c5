// @ts-check
// Hashing worker. One Piscina task per stream: the task receives a MessagePort and stays pending for the
// stream's life, so the hash state is pinned to this thread. Chunks arrive transferred and are transferred back
// as the ack (no copies). node:crypto is the fast path; hash-wasm is used for SHA-256 when its state must be
// saved (uploads that continue in another process).
import { createHash } from 'node:crypto';
import { createSHA256 } from 'hash-wasm';

/**
 * @typedef {{ port: import('node:worker_threads').MessagePort, algorithms: string[], resumable: boolean,
 *   resumeState?: Uint8Array }} HashTask
 * @typedef {{ size: number, digests: Record<string, string>, sha256State?: Uint8Array }} HashTaskResult
 */

/** @param {HashTask} task @returns {Promise<HashTaskResult>} */
export default async function hashStream({ port, algorithms, resumable, resumeState }) {
  /** @type {Map<string, import('node:crypto').Hash>} */
  const fast = new Map();
  /** @type {Awaited<ReturnType<typeof createSHA256>> | undefined} */
  let wasm;
  if (resumable || resumeState) {
    wasm = await createSHA256();
    wasm.init();
    if (resumeState) wasm.load(resumeState);
  }
  for (const a of algorithms) if (!(a === 'sha256' && wasm)) fast.set(a, createHash(a));
  let size = 0;
  return new Promise((resolve, reject) => {
    // The other side went away without 'end' (its thread or process died): fail instead of hanging.
    port.on('close', () => reject(new Error('hash stream closed before its end')));
    port.on('message', (/** @type {{ type: 'chunk', buf: ArrayBuffer, offset: number, length: number } | { type: 'end' } | { type: 'abort' }} */ msg) => {
      try {
        if (msg.type === 'chunk') {
          const view = new Uint8Array(msg.buf, msg.offset, msg.length);
          for (const h of fast.values()) h.update(view);
          wasm?.update(view);
          size += msg.length;
          port.postMessage({ type: 'ack', buf: msg.buf, offset: msg.offset, length: msg.length }, [msg.buf]);
        } else if (msg.type === 'end') {
          /** @type {Record<string, string>} */
          const digests = {};
          for (const [a, h] of fast) digests[a] = h.digest('hex');
          /** @type {Uint8Array | undefined} */
          let sha256State;
          if (wasm) {
            sha256State = wasm.save();
            digests.sha256 = wasm.digest('hex');
          }
          port.close();
          resolve({ size, digests, sha256State });
        } else {
          port.close();
          reject(new Error('hash stream aborted'));
        }
      } catch (err) {
        port.close();
        reject(err);
      }
    });
  });
}
