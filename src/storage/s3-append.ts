import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { recycleChunk } from '../util/chunk-pool.js';
import { PartCutter, type SendPart, type UploadedPart } from './s3-parts.js';

/** S3's smallest part (every part but the last). */
export const MIN_S3_PART = 5 * 1024 * 1024;
/** Part size of chunked uploads: 10 000 parts make ≈ 78 GiB; two buffers of it per append (one fills, one uploads). */
const PART = 8 * 1024 * 1024;

export interface Segment {
  key: string;
  size: number;
}
export interface Multipart {
  key: string;
  uploadId: string;
  parts: UploadedPart[];
}

interface Deps {
  client: S3Client;
  bucket: string;
  newKey: () => string;
  read: (key: string) => Promise<Readable>;
  delete: (key: string) => Promise<void>;
}

/**
 * The second and later appends of a chunked upload on S3. Their bytes go straight into one multipart upload, a part
 * per 8 MiB, so completion is CompleteMultipartUpload plus at most one short last part, whatever the blob's size
 * (joining segment objects at the end cost a copy of the whole blob, ≈ 16 s per GiB against the test server).
 * What does not fill a part (< 5 MiB at the end of a request) waits in a `carry` object and leads the next part.
 * The first append stays a plain object (a one-PATCH push completes with no copy at all); it is read into parts
 * when a second append arrives. Parts are not readable before completion: by then the upload's hash state travels
 * with the session (registry/uploads.ts) and nothing needs the bytes back.
 */
export class S3Appender {
  constructor(private readonly d: Deps) {}

  async begin(key = this.d.newKey()): Promise<Multipart> {
    const r = await this.d.client.send(new CreateMultipartUploadCommand({ Bucket: this.d.bucket, Key: key }));
    return { key, uploadId: r.UploadId!, parts: [] };
  }

  /**
   * The pending segments (their bytes first), then `body`, cut into parts. Returns the parts after this append and
   * the new carry; the consumed segments are deleted by the caller once the new state is safe.
   */
  async append(
    mp: Multipart,
    pending: Segment[],
    body: AsyncIterable<Buffer>,
    signal?: AbortSignal,
    final = false,
  ): Promise<{ mp: Multipart; carry: Segment[]; bodyBytes: number }> {
    const cut = new PartCutter(PART, this.sender(mp, signal), 2, mp.parts);
    let bodyBytes = 0;
    const take = async (source: AsyncIterable<Buffer>, counted: boolean) => {
      for await (const chunk of source) {
        if (counted) bodyBytes += chunk.length;
        await cut.write(chunk);
        recycleChunk(chunk);
      }
    };
    for (const seg of pending) await take(await this.d.read(seg.key), false);
    await take(body, true);
    let carry: Segment[] = [];
    // Finishing: what is left is the last part (any size; an empty one when there is no part at all, since S3
    // refuses to complete an empty part list).
    const rest = cut.pending.length;
    if (rest >= MIN_S3_PART || (final && (rest > 0 || cut.parts.length === 0))) cut.ship();
    else if (rest > 0) {
      const key = this.d.newKey();
      await this.d.client.send(new PutObjectCommand({ Bucket: this.d.bucket, Key: key, Body: cut.pending, ContentLength: rest }), { abortSignal: signal });
      carry = [{ key, size: rest }];
    }
    const parts = await cut.settle();
    return { mp: { ...mp, parts }, carry, bodyBytes };
  }

  /** The carry becomes the last part (any size may be last), then the parts become the object. */
  async complete(mp: Multipart, carry: Segment[]): Promise<void> {
    const { mp: done } = await this.append(mp, carry, emptyBody(), undefined, true);
    await this.finish(done);
  }

  /** The uploaded parts become the object. */
  async finish(mp: Multipart): Promise<void> {
    const Parts = mp.parts.map((p) => ({ PartNumber: p.n, ETag: p.etag }));
    await this.d.client.send(new CompleteMultipartUploadCommand({ Bucket: this.d.bucket, Key: mp.key, UploadId: mp.uploadId, MultipartUpload: { Parts } }));
  }

  /** Uploads parts of `mp`. */
  sender(mp: Pick<Multipart, 'key' | 'uploadId'>, signal?: AbortSignal): SendPart {
    return async (n, bytes) => {
      const cmd = new UploadPartCommand({ Bucket: this.d.bucket, Key: mp.key, UploadId: mp.uploadId, PartNumber: n, Body: bytes, ContentLength: bytes.length });
      return (await this.d.client.send(cmd, { abortSignal: signal })).ETag!;
    };
  }

  async abort(mp: Multipart): Promise<void> {
    await this.d.client.send(new AbortMultipartUploadCommand({ Bucket: this.d.bucket, Key: mp.key, UploadId: mp.uploadId })).catch(() => {});
  }
}

async function* emptyBody(): AsyncGenerator<Buffer> {}
