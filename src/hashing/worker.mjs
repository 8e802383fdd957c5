// @ts-check
// Hashing worker. One Piscina task per stream: the task receives a MessagePort and stays pending for the
// stream's life, so the stream's hash state lives on this one thread. Chunks arrive transferred and go back
// transferred as the ack (no copies). node:crypto is the fast path; hash-wasm computes SHA-256 when its state
// must be saved (uploads that continue in another process).
import { createHash } from 'node:crypto';
import { createSHA256 } from 'hash-wasm';

/**
 * @typedef {import('./protocol.js').StreamTask} StreamTask
 * @typedef {import('./protocol.js').StreamTaskResult} StreamTaskResult
 * @typedef {import('./protocol.js').ToWorker} ToWorker
 * @typedef {Awaited<ReturnType<typeof createSHA256>>} WasmHasher
 * @typedef {{ crypto: Map<string, import('node:crypto').Hash>, wasm: WasmHasher | undefined }} Engines
 */

/**
 * @param {StreamTask} task
 * @returns {Promise<Engines>}
 */
async function openEngines({ algorithms, resumable, resumeState }) {
  /** @type {WasmHasher | undefined} */
  let wasm;
  if (resumable) {
    wasm = await createSHA256();
    wasm.init();
    if (resumeState) {
      try {
        wasm.load(resumeState);
      } catch (err) {
        throw new Error(`invalid saved SHA-256 state: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  const crypto = new Map();
  for (const a of algorithms) if (!(a === 'sha256' && wasm)) crypto.set(a, createHash(a));
  return { crypto, wasm };
}

/**
 * @param {Engines} engines
 * @param {number} size
 * @returns {StreamTaskResult}
 */
function finish({ crypto, wasm }, size) {
  /** @type {StreamTaskResult['digests']} */
  const digests = {};
  for (const [a, h] of crypto) digests[/** @type {import('./types.js').HashAlgorithm} */ (a)] = h.digest('hex');
  if (!wasm) return { size, digests };
  const sha256State = wasm.save();
  digests.sha256 = wasm.digest('hex');
  return { size, digests, sha256State };
}

/**
 * The digests so far, the states going on (a held task: see HeldHash). Only node:crypto hashes are held.
 * @param {Engines} engines
 * @param {number} size
 * @returns {StreamTaskResult}
 */
function snapshot({ crypto }, size) {
  /** @type {StreamTaskResult['digests']} */
  const digests = {};
  for (const [a, h] of crypto) digests[/** @type {import('./types.js').HashAlgorithm} */ (a)] = h.copy().digest('hex');
  return { size, digests };
}

/**
 * A chunk arrives from another core (a socket read or a copy on the event loop put its bytes there). On the Intel
 * Xeon host this was measured on, SHA-256 reading it from memory or that core's cache ran at ≈ 1.0 GiB/s against
 * 1.5–1.7 from this core's own L2 (4 MiB). Copied into one buffer that stays in this core's cache first, it hashes
 * at ≈ 1.34 GiB/s copy included (native-bench/hash-bench.mjs), and every algorithm of the stream reads it from
 * there: in a 512 MiB remote cold pull the hashing worker went from 0.49–0.54 to 0.43–0.47 s. Where bytes hash as
 * fast wherever they are (an AMD EPYC host: 1 523 against 1 541 MiB/s), or are still in this core's cache (a
 * benchmark that recycles them), the copy costs ≈ 10 % for nothing; cold pulls there measured the same either way.
 */
const STAGE = 1024 * 1024;
/** Chunks below this are hashed where they are: a small one is cheap to read either way. */
const STAGE_FROM = 64 * 1024;
const stage = Buffer.allocUnsafeSlow(STAGE);

/**
 * @param {Engines} engines
 * @param {Uint8Array} chunk
 */
function update(engines, chunk) {
  if (chunk.byteLength < STAGE_FROM) return feed(engines, chunk);
  for (let at = 0; at < chunk.byteLength; at += STAGE) {
    const n = Math.min(STAGE, chunk.byteLength - at);
    stage.set(chunk.subarray(at, at + n));
    feed(engines, stage.subarray(0, n));
  }
}

/**
 * Every hash of the stream takes the same bytes.
 * @param {Engines} engines
 * @param {Uint8Array} bytes
 */
function feed({ crypto, wasm }, bytes) {
  for (const h of crypto.values()) h.update(bytes);
  wasm?.update(bytes);
}

/**
 * @param {StreamTask} task
 * @returns {Promise<StreamTaskResult>}
 */
export default async function hashStream(task) {
  const { port } = task;
  /** @type {Engines} */
  let engines;
  try {
    engines = await openEngines(task);
  } catch (err) {
    port.close();
    throw err;
  }
  let size = 0;
  return new Promise((resolve, reject) => {
    // The main side went away without 'end' or 'abort' (its thread died): fail instead of staying pending.
    port.on('close', () => reject(new Error('hash stream closed before its end')));
    port.on('message', (/** @type {ToWorker} */ msg) => {
      try {
        if (msg === 'end') {
          if (task.hold) {
            port.postMessage({ end: snapshot(engines, size) });
          } else {
            resolve(finish(engines, size));
            port.close();
          }
        } else if (msg === 'abort') {
          reject(new Error('hash stream aborted'));
          port.close();
        } else {
          update(engines, msg);
          size += msg.byteLength;
          port.postMessage(msg, [/** @type {ArrayBuffer} */ (msg.buffer)]);
        }
      } catch (err) {
        reject(err);
        port.close();
      }
    });
  });
}
