import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** S3's smallest part (every part but the last). */
export const MIN_S3_PART = 5 * 1024 * 1024;
/** Part size of chunked uploads: 10 000 parts make ≈ 78 GiB; two buffers of it per upload in flight. */
const PART = 8 * 1024 * 1024;

export interface Segment {
  key: string;
  size: number;
}
export interface Multipart {
  key: string;
  uploadId: string;
  parts: Array<{ n: number; etag: string; size: number }>;
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

  async begin(): Promise<Multipart> {
    const key = this.d.newKey();
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
    const parts = [...mp.parts];
    let bodyBytes = 0;
    let buf = Buffer.allocUnsafe(PART);
    let len = 0;
    let inFlight: Promise<void> | undefined;
    const flush = async (last: boolean) => {
      const bytes = buf.subarray(0, len);
      const n = parts.length + 1;
      // One part uploads while the next fills; the order of `parts` is the part numbers'.
      await inFlight;
      const slot = { n, etag: '', size: len };
      parts.push(slot);
      inFlight = this.d.client
        .send(new UploadPartCommand({ Bucket: this.d.bucket, Key: mp.key, UploadId: mp.uploadId, PartNumber: n, Body: bytes, ContentLength: len }), { abortSignal: signal })
        .then((r) => {
          slot.etag = r.ETag!;
        });
      // Awaited by the next flush or at the end; if reading the body fails first, nobody does: not unhandled.
      inFlight.catch(() => {});
      if (!last) {
        buf = Buffer.allocUnsafe(PART);
        len = 0;
      }
    };
    const take = async (source: AsyncIterable<Buffer>, counted: boolean) => {
      for await (const chunk of source) {
        if (counted) bodyBytes += chunk.length;
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(PART - len, chunk.length - off);
          chunk.copy(buf, len, off, off + n);
          len += n;
          off += n;
          if (len === PART) await flush(false);
        }
      }
    };
    for (const seg of pending) await take(await this.d.read(seg.key), false);
    await take(body, true);
    let carry: Segment[] = [];
    // Finishing: what is left is the last part (any size; an empty one when there is no part at all, since S3
    // refuses to complete an empty part list).
    if (len >= MIN_S3_PART || (final && (len > 0 || parts.length === 0))) await flush(true);
    else if (len > 0) {
      const key = this.d.newKey();
      await this.d.client.send(new PutObjectCommand({ Bucket: this.d.bucket, Key: key, Body: buf.subarray(0, len), ContentLength: len }), { abortSignal: signal });
      carry = [{ key, size: len }];
    }
    await inFlight;
    return { mp: { ...mp, parts }, carry, bodyBytes };
  }

  /** The carry becomes the last part (any size may be last), then the parts become the object. */
  async complete(mp: Multipart, carry: Segment[]): Promise<void> {
    const { mp: done } = await this.append(mp, carry, emptyBody(), undefined, true);
    await this.d.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.d.bucket,
        Key: mp.key,
        UploadId: mp.uploadId,
        MultipartUpload: { Parts: done.parts.map((p) => ({ PartNumber: p.n, ETag: p.etag })) },
      }),
    );
  }

  async abort(mp: Multipart): Promise<void> {
    await this.d.client.send(new AbortMultipartUploadCommand({ Bucket: this.d.bucket, Key: mp.key, UploadId: mp.uploadId })).catch(() => {});
  }
}

async function* emptyBody(): AsyncGenerator<Buffer> {}
