import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';
import { badRequest } from '../../errors.js';
import { stagedSource, zipEntries, type ZipEntry } from '../shared/archive.js';
import type { StagedBlob } from '../types.js';

/**
 * Terraform's provider package hashes. `zh:` is the hex SHA-256 of the zip file; `h1:` is Go's dirhash Hash1 of the
 * zip's contents (dirhash.HashZip, what `terraform providers mirror` writes and lock files record): for every entry,
 * sorted by name, the line "{hex sha256 of its bytes}  {name}\n", and the base64 SHA-256 of those lines.
 * Entries are inflated as streams, so provider binaries of hundreds of MB never sit in memory.
 */

/** Every entry's uncompressed bytes together: more than this is refused (a zip bomb, not a provider). */
const MAX_TOTAL_UNCOMPRESSED = 4 * 1024 * 1024 * 1024;
const MAX_ENTRIES = 10_000;

const invalid = (message: string) => badRequest('ARCHIVE_INVALID', message);

/** The zip's entries, refused when a name could not be hashed or unpacked safely. */
export async function listZip(blob: StagedBlob): Promise<ZipEntry[]> {
  const entries = await zipEntries(stagedSource(blob), MAX_ENTRIES);
  const names = new Set<string>();
  for (const e of entries) {
    if (e.name.includes('\n')) throw invalid('zip entry names with newlines are not supported');
    if (e.name.startsWith('/') || e.name.split('/').includes('..') || e.name.includes('\\')) throw invalid(`zip entry ${e.name} escapes the package directory`);
    if (names.has(e.name)) throw invalid(`zip has two entries named ${e.name}`);
    names.add(e.name);
  }
  return entries;
}

/** Counts bytes through a stream and stops past a limit. */
function limiter(max: number, name: string): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > max) cb(invalid(`${name} inflates beyond its declared size`));
      else cb(null, chunk);
    },
  });
}

async function entrySha256(blob: StagedBlob, e: ZipEntry): Promise<string> {
  const h = createHash('sha256');
  if (e.compressedSize === 0) {
    if (e.size !== 0) throw invalid(`zip entry ${e.name} has no data`);
    return h.digest('hex');
  }
  const src = stagedSource(blob);
  const head = await src.read(e.offset, e.offset + 30);
  if (head.length < 30 || head.readUInt32LE(0) !== 0x04034b50) throw invalid(`corrupt zip local header for ${e.name}`);
  const start = e.offset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
  if (start + e.compressedSize > blob.size) throw invalid(`zip entry ${e.name} out of bounds`);
  const data: Readable = await blob.open({ start, end: start + e.compressedSize - 1 });
  let n = 0;
  const sink = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      h.update(chunk);
      cb();
    },
  });
  try {
    if (e.method === 0) await pipeline(data, limiter(e.size, e.name), sink);
    else if (e.method === 8) await pipeline(data, createInflateRaw(), limiter(e.size, e.name), sink);
    else throw invalid(`${e.name} uses unsupported zip compression method ${e.method}`);
  } catch (err) {
    if ((err as { status?: number }).status) throw err;
    throw invalid(`zip entry ${e.name} does not inflate: ${(err as Error).message}`);
  }
  if (n !== e.size) throw invalid(`zip entry ${e.name} is ${n} bytes, its header says ${e.size}`);
  return h.digest('hex');
}

/** The `h1:` hash of a provider zip (dirhash.HashZip with Hash1). */
export async function packageHashV1(blob: StagedBlob, entries?: ZipEntry[]): Promise<string> {
  const list = entries ?? (await listZip(blob));
  const total = list.reduce((s, e) => s + e.size, 0);
  if (total > MAX_TOTAL_UNCOMPRESSED) throw invalid(`zip contents exceed ${MAX_TOTAL_UNCOMPRESSED} bytes`);
  // Go sorts names as byte strings.
  const sorted = [...list].sort((a, b) => Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8')));
  const summary = createHash('sha256');
  for (const e of sorted) summary.update(`${await entrySha256(blob, e)}  ${e.name}\n`);
  return `h1:${summary.digest('base64')}`;
}
