import { randomUUID } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { AbortedError } from '../errors.js';
import { recycleChunk } from '../util/chunk-pool.js';
import { S3Appender, type Multipart } from './s3-append.js';
import { PartCutter } from './s3-parts.js';
import type { AppendState, BlobStore, ByteRange, CommittedObject, ObjectStat, StagedWrite } from './types.js';

export interface S3Config {
  endpoint?: string;
  bucket: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  prefix?: string;
}

const MIN_PART = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Part buffers per staged write (one fills while the others upload): its memory is partSize × PART_BUFFERS. */
const PART_BUFFERS = 3;

/** Smallest part size (≥ 8 MiB, multiple of 1 MiB) that fits `size` into S3's 10 000 parts. */
export function partSizeFor(size: number | undefined): number {
  const s = size ?? 0;
  const need = Math.ceil(s / MAX_PARTS);
  return Math.max(MIN_PART, Math.ceil(need / (1024 * 1024)) * 1024 * 1024);
}

/** Pass through only bytes [start, start + length) of a stream, then end. */
function sliceStream(start: number, length: number): Transform {
  let pos = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const from = Math.max(0, start - pos);
      const to = Math.min(chunk.length, start + length - pos);
      pos += chunk.length;
      cb(null, from < to ? chunk.subarray(from, to) : undefined);
      if (pos >= start + length) this.push(null);
    },
  });
}

function enoent(key: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`blob ${key} not found`);
  e.code = 'ENOENT';
  return e;
}

const isMissing = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
};

/**
 * S3 blob store (AWS S3, MinIO, Ceph RGW). Each write is a multipart upload straight to a unique final key
 * `<prefix>blobs/<uuid>`; metadata maps digests to keys, so commit needs no server-side copy (the cause of slow
 * finalisation in other registries). Unknown-length bodies use 8 MiB parts, so up to ~78 GiB; give a size hint
 * for bigger objects.
 */
export class S3BlobStore implements BlobStore {
  readonly driver = 's3' as const;
  readonly client: S3Client;
  private readonly prefix: string;
  private readonly appender: S3Appender;

  constructor(private readonly cfg: S3Config) {
    this.prefix = cfg.prefix ? cfg.prefix.replace(/\/?$/, '/') : '';
    this.client = new S3Client({
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.forcePathStyle,
      credentials: cfg.accessKeyId && cfg.secretAccessKey ? { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } : undefined,
      // Checksums are ours (SHA-256 of the content); don't make the SDK buffer or trail its own.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 128 }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 128 }),
        connectionTimeout: 10_000,
      }),
    });
    this.appender = new S3Appender({
      client: this.client,
      bucket: cfg.bucket,
      newKey: () => this.newKey(),
      read: (key) => this.read(key),
      delete: (key) => this.delete(key),
    });
  }

  private newKey(): string {
    return `${this.prefix}blobs/${randomUUID()}`;
  }

  private checkKey(key: string): void {
    if (!key.startsWith(`${this.prefix}blobs/`) || key.includes('..')) throw new Error(`invalid s3 blob key "${key}"`);
  }

  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.cfg.bucket }));
    } catch {
      await this.client.send(new CreateBucketCommand({ Bucket: this.cfg.bucket }));
    }
  }

  stage(options: { sizeHint?: number; signal?: AbortSignal } = {}): StagedWrite {
    const key = this.newKey();
    let size = 0;
    // The multipart upload begins when a first part fills: a body smaller than a part is one PutObject.
    let multipart: Promise<Multipart> | undefined;
    let state: 'open' | 'committed' | 'aborted' = 'open';
    // A write still in progress when the stage was aborted must not begin an upload that nobody would abort.
    const begin = () => {
      if (state === 'aborted') throw new AbortedError('staged write aborted');
      return (multipart ??= this.appender.begin(key));
    };
    const cut = new PartCutter(partSizeFor(options.sizeHint), async (n, bytes) => this.appender.sender(await begin(), options.signal)(n, bytes), PART_BUFFERS);
    const finish = async () => {
      if (!multipart) {
        const body = cut.pending;
        await this.client.send(new PutObjectCommand({ Bucket: this.cfg.bucket, Key: key, Body: body, ContentLength: body.length }), { abortSignal: options.signal });
        return;
      }
      if (cut.pending.length) cut.ship();
      await cut.settle();
      await this.appender.finish({ ...(await multipart), parts: cut.parts });
    };
    const sink = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        cut.write(chunk).then(() => {
          recycleChunk(chunk);
          cb();
        }, cb);
      },
      final(cb) {
        finish().then(() => cb(), cb);
      },
    });
    const done = new Promise<{ size: number }>((resolve, reject) => {
      sink.once('finish', () => resolve({ size }));
      sink.once('error', reject);
      sink.once('close', () => reject(new Error('staged write aborted')));
    });
    done.catch(() => {});
    return {
      sink,
      done,
      commit: async () => {
        await done;
        state = 'committed';
        return { key, size };
      },
      abort: async () => {
        if (state !== 'open') return;
        state = 'aborted';
        sink.destroy();
        await cut.settle().catch(() => {});
        const mp = await multipart?.catch(() => undefined);
        if (mp) await this.appender.abort(mp);
        await this.delete(key).catch(() => {});
      },
      readStaged: async (range) => {
        await done;
        return this.read(key, range);
      },
    };
  }

  private segments(state: AppendState): Array<{ key: string; size: number }> {
    if (state.driver !== 's3') throw new Error('invalid s3 append state');
    for (const seg of state.segments) this.checkKey(seg.key);
    if (state.multipart) this.checkKey(state.multipart.key);
    return state.segments;
  }

  async beginAppend(): Promise<AppendState> {
    return { driver: 's3', segments: [], size: 0 };
  }

  async append(state: AppendState, body: Readable, signal?: AbortSignal): Promise<AppendState> {
    const segments = this.segments(state);
    if (state.driver === 's3' && (state.multipart || segments.length > 0)) {
      // A second or later append: into the multipart upload (see s3-append.ts).
      const mp = state.multipart ?? (await this.appender.begin());
      try {
        const r = await this.appender.append(mp, segments, body, signal);
        if (r.bodyBytes === 0) {
          // An empty body changes nothing (and leaves no new upload behind).
          if (!state.multipart) await this.appender.abort(mp);
          await Promise.all(r.carry.map((seg) => this.delete(seg.key).catch(() => {})));
          return state;
        }
        // The consumed segments are in parts now. Deleting them before the caller saved the new state is safe: a
        // session that cannot be saved is over anyway (the reaper aborts the upload).
        await Promise.all(segments.map((seg) => this.delete(seg.key).catch(() => {})));
        return { driver: 's3', segments: r.carry, size: state.size + r.bodyBytes, multipart: r.mp };
      } catch (err) {
        if (!state.multipart) await this.appender.abort(mp);
        throw err;
      }
    }
    const staged = this.stage();
    const onAbort = () => void staged.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await pipeline(body, staged.sink);
      const { size } = await staged.done;
      if (size === 0) {
        await staged.abort();
        return state;
      }
      const { key } = await staged.commit('');
      return { driver: 's3', segments: [...segments, { key, size }], size: state.size + size };
    } catch (err) {
      await staged.abort();
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async readAppended(state: AppendState): Promise<Readable> {
    const segments = this.segments(state);
    if (state.driver === 's3' && state.multipart) throw new Error('the bytes of an unfinished multipart upload cannot be read back');
    const self = this;
    return Readable.from(
      (async function* () {
        for (const seg of segments) yield* await self.read(seg.key);
      })(),
    );
  }

  async completeAppend(state: AppendState, _sha256: string): Promise<CommittedObject> {
    const segments = this.segments(state);
    if (state.driver === 's3' && state.multipart) {
      await this.appender.complete(state.multipart, segments);
      await Promise.all(segments.map((seg) => this.delete(seg.key).catch(() => {})));
      return { key: state.multipart.key, size: state.size };
    }
    // The common case (one streamed PATCH): the segment is the blob, no copy.
    if (segments.length === 1) return { key: segments[0]!.key, size: state.size };
    // Several segments without a multipart upload: a session saved before appends went into one; joined by a copy.
    const staged = this.stage({ sizeHint: state.size });
    await pipeline(await this.readAppended(state), staged.sink);
    const done = await staged.commit('');
    await Promise.all(segments.map((seg) => this.delete(seg.key).catch(() => {})));
    return done;
  }

  async abortAppend(state: AppendState): Promise<void> {
    if (state.driver === 's3' && state.multipart) await this.appender.abort(state.multipart);
    await Promise.all(this.segments(state).map((seg) => this.delete(seg.key).catch(() => {})));
  }

  /**
   * A finished file (a remote download's spool): one PutObject when it fits a part, else a multipart upload whose
   * parts are read from the file straight into reused part buffers, PART_BUFFERS at a time. lib-storage's Upload
   * (used before) read it in fresh 1 MiB buffers and joined them into a fresh buffer per part: the whole blob twice
   * over as garbage, and in server mode a full mark-compact ("external memory pressure", 10–28 ms each) every
   * ≈ 300 ms of every commit.
   */
  async putFile(path: string, _sha256: string, size: number): Promise<CommittedObject> {
    const key = this.newKey();
    const partSize = partSizeFor(size);
    const fh = await open(path, 'r');
    try {
      if (size <= partSize) {
        const body = Buffer.allocUnsafeSlow(size);
        await readExactly(fh, body, 0);
        await this.client.send(new PutObjectCommand({ Bucket: this.cfg.bucket, Key: key, Body: body, ContentLength: size }));
        return { key, size };
      }
      const mp = await this.appender.begin(key);
      const cut = new PartCutter(partSize, this.appender.sender(mp), PART_BUFFERS);
      try {
        for (let at = 0; at < size; at += partSize) await cut.fillPart(Math.min(partSize, size - at), (into) => readExactly(fh, into, at));
        await this.appender.finish({ ...mp, parts: await cut.settle() });
      } catch (err) {
        await cut.settle().catch(() => {});
        await this.appender.abort(mp);
        throw err;
      }
      return { key, size };
    } finally {
      await fh.close();
    }
  }

  async read(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    this.checkKey(key);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.cfg.bucket, Key: key, Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
        { abortSignal: signal },
      );
      const body = res.Body as Readable;
      // HTTP lets a server ignore Range and send the whole object (some S3-compatible servers do for `bytes=0-0`):
      // then cut the requested window out of the stream rather than serve the wrong bytes.
      const want = range ? range.end - range.start + 1 : 0;
      if (range && res.ContentLength !== undefined && res.ContentLength !== want) {
        const sentFrom = Number(/^bytes (\d+)-/.exec(res.ContentRange ?? '')?.[1] ?? 0);
        return body.pipe(sliceStream(range.start - sentFrom, want));
      }
      return body;
    } catch (err) {
      if (isMissing(err)) throw enoent(key);
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectStat | null> {
    this.checkKey(key);
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.cfg.bucket, Key: key }));
      return { key, size: Number(h.ContentLength ?? 0), mtime: h.LastModified ?? new Date(0) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    this.checkKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: key }));
  }

  async *list(): AsyncIterable<ObjectStat> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.cfg.bucket, Prefix: `${this.prefix}blobs/`, ContinuationToken: token }));
      for (const o of page.Contents ?? []) yield { key: o.Key!, size: Number(o.Size ?? 0), mtime: o.LastModified ?? new Date(0) };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async sweepStaging(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let n = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.cfg.bucket, Prefix: `${this.prefix}blobs/`, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const u of page.Uploads ?? []) {
        if (u.Initiated && u.Initiated.getTime() < cutoff) {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.cfg.bucket, Key: u.Key!, UploadId: u.UploadId! })).catch(() => {});
          n++;
        }
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return n;
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.cfg.bucket }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** Fills `into` from the file at `position`; a file shorter than that is an error, not a short object. */
async function readExactly(fh: FileHandle, into: Buffer, position: number): Promise<void> {
  for (let done = 0; done < into.length; ) {
    const { bytesRead } = await fh.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`file ended ${into.length - done} bytes short at offset ${position + done}`);
    done += bytesRead;
  }
}
