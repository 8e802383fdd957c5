import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, type FileHandle, mkdir, open, readdir, rename, stat, truncate, unlink } from 'node:fs/promises';
import { DurableFileWriter, type DurableFileOptions } from './durable-file.js';
import { warmPageCache } from './page-cache-warm.js';
import { FileBody } from './file-body.js';
import { removeGradually } from './gradual-remove.js';
import { fsyncPath } from '../util/fsync.js';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AppendState, BlobStore, ByteRange, CommittedObject, ObjectStat, StagedWrite } from './types.js';

const SHA256_RE = /^[0-9a-f]{64}$/;
const KEY_RE = /^sha256\/[0-9a-f]{2}\/[0-9a-f]{64}$/;
const HWM = 1024 * 1024;
const BACKGROUND_REMOVAL = 32 * 1024 * 1024;

function enoent(key: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`blob ${key} not found`);
  e.code = 'ENOENT';
  return e;
}

/**
 * Filesystem blob store (the embedded default). Writes go to `staging/<uuid>`; commit fsyncs the file, renames
 * it to `blobs/sha256/<aa>/<hex>` and fsyncs the directory, so a crash leaves either the whole blob or nothing.
 */
export class FsBlobStore implements BlobStore {
  readonly driver = 'fs' as const;
  private readonly staging: string;
  private readonly blobs: string;

  constructor(
    readonly root: string,
    /**
     * `directWritesAfter`: uploads go around the page cache past this offset (see DurableFileWriter), and are read
     * back into it once committed; unset, every write is an ordinary one.
     */
    private readonly opts: { directWritesAfter?: number } = {},
  ) {
    this.staging = join(root, 'staging');
    this.blobs = join(root, 'blobs');
  }

  async init(): Promise<this> {
    await mkdir(this.staging, { recursive: true });
    await mkdir(this.blobs, { recursive: true });
    return this;
  }

  private pathOf(key: string): string {
    if (!KEY_RE.test(key)) throw new Error(`invalid fs blob key "${key}"`);
    return join(this.blobs, key);
  }

  static keyFor(sha256: string): string {
    if (!SHA256_RE.test(sha256)) throw new Error(`invalid sha256 "${sha256}"`);
    return `sha256/${sha256.slice(0, 2)}/${sha256}`;
  }

  /**
   * Move a finished file into its content address; an existing copy of the digest wins. `warm`: the file was partly
   * written around the page cache, read it back in once it is placed.
   */
  private async place(file: string, sha256: string, warm = false): Promise<CommittedObject> {
    const key = FsBlobStore.keyFor(sha256);
    const dest = join(this.blobs, key);
    const dir = join(this.blobs, 'sha256', sha256.slice(0, 2));
    const existing = await stat(dest).catch(() => null);
    if (existing) {
      // A large duplicate goes in the background: nobody needs to wait for it (one left by a crash is swept later).
      const removal = removeGradually(file).catch(() => {});
      if (existing.size <= BACKGROUND_REMOVAL) await removal;
      return { key, size: existing.size };
    }
    await fsyncPath(file, 'r+');
    await mkdir(dir, { recursive: true });
    await rename(file, dest);
    await fsyncPath(dir);
    if (warm) warmPageCache(dest);
    const st = await stat(dest);
    return { key, size: st.size };
  }

  stage(): StagedWrite {
    const file = join(this.staging, randomUUID());
    let handle: Promise<FileHandle> | undefined;
    const fh = () => (handle ??= open(file, 'w'));
    const sink = new DurableFileWriter({ fh, recycle: true, ...this.direct(file) });
    const closeHandle = async () => {
      if (handle) await (await handle.catch(() => undefined))?.close().catch(() => {});
    };
    const done = new Promise<{ size: number }>((resolve, reject) => {
      sink.once('finish', () => {
        // An empty body never opened the file: create it so commit has something to place.
        fh().then(() => resolve({ size: sink.bytesWritten }), reject);
      });
      sink.once('error', reject);
    });
    done.catch(() => {});
    let finished = false;
    return {
      sink,
      done,
      commit: async (sha256: string) => {
        await done;
        finished = true;
        await closeHandle();
        return this.place(file, sha256, sink.wentDirect);
      },
      abort: async () => {
        if (finished) return;
        finished = true;
        sink.destroy();
        await closeHandle();
        await removeGradually(file).catch(() => {});
      },
      readStaged: async (range) => {
        await done;
        return createReadStream(file, { highWaterMark: HWM, ...(range ? { start: range.start, end: range.end } : {}) });
      },
    };
  }

  /** The writer options that make a file's large uploads go direct, when configured. */
  private direct(path: string): Pick<DurableFileOptions, 'path' | 'directAfter'> {
    const after = this.opts.directWritesAfter;
    return after === undefined ? {} : { path, directAfter: after };
  }

  /** Whether a file of this size went partly around the page cache (and so wants reading back once placed). */
  private wroteDirect(size: number): boolean {
    const after = this.opts.directWritesAfter;
    return after !== undefined && size > after;
  }

  private appendPath(state: AppendState): string {
    if (state.driver !== 'fs' || !/^[0-9a-f-]{36}$/.test(state.file)) throw new Error('invalid fs append state');
    return join(this.staging, state.file);
  }

  async beginAppend(): Promise<AppendState> {
    const file = randomUUID();
    await (await open(join(this.staging, file), 'w')).close();
    return { driver: 'fs', file, size: 0 };
  }

  async append(state: AppendState, body: Readable, signal?: AbortSignal): Promise<AppendState> {
    const path = this.appendPath(state);
    const fh = await open(path, 'r+');
    try {
      // Bytes past `size` are the remains of an append that failed: overwrite them.
      const sink = new DurableFileWriter({ fh: async () => fh, start: state.size, recycle: true, ...this.direct(path) });
      await pipeline(body, sink, signal ? { signal } : {});
      await sink.flush();
      return { ...state, size: state.size + sink.bytesWritten };
    } finally {
      await fh.close();
    }
  }

  async readAppended(state: AppendState): Promise<Readable> {
    if (state.size === 0) return Readable.from([]);
    return createReadStream(this.appendPath(state), { start: 0, end: state.size - 1, highWaterMark: HWM });
  }

  async completeAppend(state: AppendState, sha256: string): Promise<CommittedObject> {
    const path = this.appendPath(state);
    await truncate(path, state.size);
    return this.place(path, sha256, this.wroteDirect(state.size));
  }

  async abortAppend(state: AppendState): Promise<void> {
    const removal = removeGradually(this.appendPath(state)).catch(() => {});
    // As in place(): nobody waits for a large file to go.
    if (state.size <= BACKGROUND_REMOVAL) await removal;
  }

  async putFile(path: string, sha256: string, _size: number, wentDirect = false): Promise<CommittedObject> {
    return this.place(path, sha256, wentDirect);
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(key);
    // Open first so a missing blob is a rejected promise, not a stream error after headers went out.
    const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? enoent(key) : err;
    });
    return new FileBody(fh, range?.start ?? 0, range?.end ?? Infinity);
  }

  async stat(key: string): Promise<ObjectStat | null> {
    const st = await stat(this.pathOf(key)).catch(() => null);
    return st ? { key, size: st.size, mtime: st.mtime } : null;
  }

  async delete(key: string): Promise<void> {
    await unlink(this.pathOf(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async *list(): AsyncIterable<ObjectStat> {
    const base = join(this.blobs, 'sha256');
    const prefixes = await readdir(base).catch(() => [] as string[]);
    for (const p of prefixes.sort()) {
      for (const name of (await readdir(join(base, p)).catch(() => [] as string[])).sort()) {
        const key = `sha256/${p}/${name}`;
        if (!KEY_RE.test(key)) continue;
        const st = await stat(join(base, p, name)).catch(() => null);
        if (st) yield { key, size: st.size, mtime: st.mtime };
      }
    }
  }

  async sweepStaging(olderThanMs: number): Promise<number> {
    let n = 0;
    const cutoff = Date.now() - olderThanMs;
    for (const name of await readdir(this.staging).catch(() => [] as string[])) {
      const p = join(this.staging, name);
      const st = await stat(p).catch(() => null);
      if (st && st.mtimeMs < cutoff) {
        await removeGradually(p);
        n++;
      }
    }
    return n;
  }

  async check(): Promise<void> {
    await access(this.staging, constants.W_OK);
  }

  async close(): Promise<void> {}
}
