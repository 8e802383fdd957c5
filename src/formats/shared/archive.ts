import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { createGunzip, inflateRawSync } from 'node:zlib';
import { badRequest, HttpError } from '../../errors.js';
import type { StagedBlob } from '../types.js';

/**
 * Archive readers for inspecting packages before they are committed (wheels and Go module zips; npm, Helm,
 * Puppet and apk tarballs). Inputs are untrusted: every size is bounded and a malformed archive is a 400.
 */

const invalid = (message: string) => badRequest('ARCHIVE_INVALID', message);

// ---------- zip (central directory, random access) ----------

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  offset: number;
  isDirectory: boolean;
}

/** Random access to bytes: a staged upload (ranged reads) or a buffer. */
export interface ByteSource {
  size: number;
  /** Bytes [start, end) */
  read(start: number, end: number): Promise<Buffer>;
}

export function stagedSource(blob: StagedBlob): ByteSource {
  return {
    size: blob.size,
    async read(start, end) {
      if (end <= start) return Buffer.alloc(0);
      const parts: Buffer[] = [];
      for await (const c of await blob.open({ start, end: end - 1 })) parts.push(c as Buffer);
      return Buffer.concat(parts);
    },
  };
}

export function bufferSource(buf: Buffer): ByteSource {
  return { size: buf.length, read: async (s, e) => buf.subarray(s, e) };
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** The entries of a zip archive, from its central directory. */
export async function zipEntries(src: ByteSource, maxEntries = 100_000): Promise<ZipEntry[]> {
  if (src.size < 22) throw invalid('not a zip archive (too short)');
  const tailLen = Math.min(src.size, 22 + 65_535 + 20);
  const tailStart = src.size - tailLen;
  const tail = await src.read(tailStart, src.size);
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD) {
      at = i;
      break;
    }
  }
  if (at < 0) throw invalid('not a zip archive (no end of central directory)');
  let count = tail.readUInt16LE(at + 10);
  let cdSize = tail.readUInt32LE(at + 12);
  let cdOffset = tail.readUInt32LE(at + 16);
  if ((count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) && at >= 20 && tail.readUInt32LE(at - 20) === ZIP64_LOCATOR) {
    const recOffset = Number(tail.readBigUInt64LE(at - 20 + 8));
    const rec = await src.read(recOffset, recOffset + 56);
    if (rec.length < 56 || rec.readUInt32LE(0) !== ZIP64_EOCD) throw invalid('bad zip64 end of central directory');
    count = Number(rec.readBigUInt64LE(32));
    cdSize = Number(rec.readBigUInt64LE(40));
    cdOffset = Number(rec.readBigUInt64LE(48));
  }
  if (count > maxEntries) throw invalid(`zip has ${count} entries, more than ${maxEntries}`);
  if (cdOffset + cdSize > src.size) throw invalid('zip central directory out of bounds');
  const cd = await src.read(cdOffset, cdOffset + cdSize);
  const out: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) throw invalid('corrupt zip central directory');
    const method = cd.readUInt16LE(p + 10);
    let compressedSize = cd.readUInt32LE(p + 20);
    let size = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let offset = cd.readUInt32LE(p + 42);
    const name = cd.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    // Zip64: the sizes and offset that overflowed 32 bits follow, in this order, in extra field 0x0001.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cd.readUInt16LE(e);
      const len = cd.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = Number(cd.readBigUInt64LE(q))), (q += 8);
        if (compressedSize === 0xffffffff) (compressedSize = Number(cd.readBigUInt64LE(q))), (q += 8);
        if (offset === 0xffffffff) offset = Number(cd.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    out.push({ name, method, compressedSize, size, offset, isDirectory: name.endsWith('/') });
    p = extraEnd + commentLen;
  }
  return out;
}

/** One entry's uncompressed bytes (stored or deflated), refused beyond `maxBytes`. */
export async function readZipEntry(src: ByteSource, entry: ZipEntry, maxBytes: number): Promise<Buffer> {
  if (entry.size > maxBytes) throw invalid(`${entry.name} is larger than ${maxBytes} bytes`);
  const head = await src.read(entry.offset, entry.offset + 30);
  if (head.length < 30 || head.readUInt32LE(0) !== LOCAL) throw invalid(`corrupt zip local header for ${entry.name}`);
  const start = entry.offset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
  const data = await src.read(start, start + entry.compressedSize);
  if (entry.method === 0) return data;
  if (entry.method !== 8) throw invalid(`${entry.name} uses unsupported zip compression method ${entry.method}`);
  try {
    return inflateRawSync(data, { maxOutputLength: maxBytes });
  } catch {
    throw invalid(`${entry.name} does not inflate (corrupt, or larger than ${maxBytes} bytes)`);
  }
}

// ---------- tar / tar.gz (streaming) ----------

export interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  size: number;
  /** Read this entry's bytes (at most `max`, else 400); entries not read are skipped. */
  read(max: number): Promise<Buffer>;
}

/** Pulls exact byte counts out of a stream. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  constructor(private readonly stream: Readable) {}

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.ended) {
      const c = this.stream.read() as Buffer | null;
      if (c) this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
      else if (this.stream.readableEnded) this.ended = true;
      else await Promise.race([once(this.stream, 'readable'), once(this.stream, 'end')]);
    }
    return this.buf.length >= n;
  }

  async take(n: number): Promise<Buffer> {
    if (!(await this.fill(n))) throw invalid('archive truncated');
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      const step = Math.min(n, 1 << 20);
      await this.take(step);
      n -= step;
    }
  }

  /** At the end: no more bytes (or only the zero padding after the end-of-archive blocks). */
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }
}

function octal(b: Buffer): number {
  // GNU base-256 for big numbers: high bit of the first byte set.
  if (b[0]! & 0x80) {
    let v = 0;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = b.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw invalid('corrupt tar header');
  return parseInt(s, 8);
}

const cstr = (b: Buffer) => b.toString('utf8').replace(/\0.*$/s, '');

function paxPath(body: Buffer): string | undefined {
  let p = 0;
  let path: string | undefined;
  const s = body.toString('utf8');
  while (p < s.length) {
    const sp = s.indexOf(' ', p);
    if (sp < 0) break;
    const len = Number(s.slice(p, sp));
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = s.slice(sp + 1, p + len - 1);
    const eq = rec.indexOf('=');
    if (rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    p += len;
  }
  return path;
}

/**
 * The entries of a tar stream (gunzipped first when `gzip`), in order. Read an entry before asking for the
 * next; unread entries are skipped.
 */
export async function* tarEntries(input: Readable, opts: { gzip: boolean; maxEntries?: number }): AsyncGenerator<TarEntry> {
  const stream = opts.gzip ? input.pipe(createGunzip()) : input;
  let gzError: Error | undefined;
  stream.on('error', (e) => (gzError = e));
  input.on('error', (e) => stream.destroy(e));
  const r = new ByteReader(stream);
  let longName: string | undefined;
  let count = 0;
  try {
    yield* entries();
  } catch (err) {
    // Whatever zlib or the stream said, a body that is not gzip is the client's mistake, not ours.
    if (gzError && !(err instanceof HttpError)) throw invalid(`not a gzip archive: ${gzError.message}`);
    throw err;
  } finally {
    stream.destroy();
    input.destroy();
  }

  async function* entries(): AsyncGenerator<TarEntry> {
    for (;;) {
      if (gzError) throw invalid(`not a gzip archive: ${gzError.message}`);
      if (await r.atEnd()) return;
      const h = await r.take(512).catch((e) => {
        throw gzError ? invalid(`not a gzip archive: ${gzError.message}`) : e;
      });
      if (h.every((x) => x === 0)) return; // end-of-archive block
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      if (sum !== octal(h.subarray(148, 156))) throw invalid('corrupt tar header (checksum)');
      const size = octal(h.subarray(124, 136));
      const flag = String.fromCharCode(h[156]!);
      const padded = Math.ceil(size / 512) * 512;
      if (flag === 'x' || flag === 'L' || flag === 'g') {
        if (size > 1 << 20) throw invalid('tar extended header too large');
        const body = (await r.take(padded)).subarray(0, size);
        if (flag === 'x') longName = paxPath(body) ?? longName;
        else if (flag === 'L') longName = cstr(body);
        continue;
      }
      if (opts.maxEntries !== undefined && ++count > opts.maxEntries) throw invalid(`archive has more than ${opts.maxEntries} entries`);
      const magic = h.subarray(257, 262).toString('latin1');
      const prefix = magic === 'ustar' ? cstr(h.subarray(345, 500)) : '';
      const name = longName ?? (prefix ? `${prefix}/${cstr(h.subarray(0, 100))}` : cstr(h.subarray(0, 100)));
      longName = undefined;
      const type: TarEntry['type'] =
        flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'directory' : flag === '2' ? 'symlink' : flag === '1' ? 'hardlink' : 'other';
      let consumed = false;
      const entry: TarEntry = {
        name,
        type,
        size,
        read: async (max) => {
          if (consumed) throw new Error('tar entry already read');
          if (size > max) throw invalid(`${name} is larger than ${max} bytes`);
          consumed = true;
          const body = await r.take(padded);
          return Buffer.from(body.subarray(0, size));
        },
      };
      yield entry;
      if (!consumed) await r.skip(padded);
    }
  }
}

/** Normalise an archive member name for comparisons: no leading `./` or `/`. */
export function memberName(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}
