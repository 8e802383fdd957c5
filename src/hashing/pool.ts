import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { digestBuffer } from './digest.js';
import type { StreamTask, StreamTaskResult } from './protocol.js';
import { PooledHashStream, type RunTask, type StreamTuning } from './stream.js';
import type { Hasher, HasherOptions, HasherStats, HashingStream, HashStreamOptions } from './types.js';

// Plain JavaScript so the same file runs from src/ (vitest) and from dist/ (tsc copies it there).
const WORKER = new URL('./worker.mjs', import.meta.url).href;

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * The hashing service: a Piscina pool of worker threads for streams (the event loop stays free for I/O) and
 * synchronous node:crypto for small in-memory documents.
 *
 * Piscina sends each task to any thread, but a stream's hash state must stay on one; so a stream is a single
 * task that stays pending for the stream's life and receives the chunks on its own MessagePort. Many such
 * tasks share a thread (`streamsPerThread`).
 */
export function createHasher(options: HasherOptions = {}, tuning?: StreamTuning): Hasher {
  const threads = positiveInt('threads', options.threads ?? Math.min(2, availableParallelism()));
  const streamsPerThread = positiveInt('streamsPerThread', options.streamsPerThread ?? 1024);
  const pool = new Piscina<StreamTask, StreamTaskResult>({
    filename: WORKER,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: streamsPerThread,
    // A waiting worker must keep its event loop running: its pending tasks live on port messages, and
    // Atomics.wait only saves dispatch time for short tasks.
    atomics: 'disabled',
  });
  let streams = 0;
  let closing: Promise<void> | undefined;

  const runTask: RunTask = (task, transferList) => {
    streams++;
    const done = pool.run(task, { transferList });
    void done.then(
      () => streams--,
      () => streams--,
    );
    return done;
  };

  return {
    stream(opts: HashStreamOptions): HashingStream {
      if (closing) throw new Error('the hasher is closed');
      return new PooledHashStream(runTask, opts, tuning);
    },
    digestBuffer,
    stats: (): HasherStats => ({ threads, streams, queued: pool.queueSize }),
    close() {
      closing ??= pool.destroy();
      return closing;
    },
  };
}
