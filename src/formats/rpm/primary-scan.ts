import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import * as zlib from 'node:zlib';
import { attributes, unescapeXml } from './xml.js';

/** What a remote needs of each package primary.xml lists: where it is and what its bytes must hash to. */
export interface PrimaryPackage {
  href: string;
  checksumType: string;
  checksum: string;
  size?: number;
  /** Set when the package lives on another host (`xml:base`): not served through this repository. */
  base?: string;
}

/** One `<package>` element can be large (file lists, descriptions) but never this large. */
const MAX_PACKAGE_ELEMENT = 64 * 1024 * 1024;

/** Node.js 22.15+ decodes zstd (what Fedora's repodata uses); older runtimes cannot. */
const zstdDecompressor = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;

/** `<package ` or `<package>`, not `<packager>`. */
const PACKAGE_START = /<package[\s>]/;

export type Compression = 'gzip' | 'none' | 'zstd' | 'xz' | 'bzip2';

/** Compression by magic bytes (repos name files .gz/.zst/.xz/.bz2, but the bytes are what counts). */
export function compressionOf(body: Buffer): Compression {
  if (body.length < 6) return 'none';
  if (body[0] === 0x1f && body[1] === 0x8b) return 'gzip';
  if (body.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  if (body.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (body.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  return 'none';
}

function parsePackage(block: string): PrimaryPackage | undefined {
  const sum = /<checksum\b([^>]*)>([^<]*)<\/checksum>/.exec(block);
  const loc = /<location\b([^>]*?)\/?>/.exec(block);
  if (!sum || !loc) return undefined;
  const la = attributes(loc[1]!);
  const href = la.get('href');
  if (!href) return undefined;
  const size = /<size\b([^>]*?)\/?>/.exec(block);
  const pkgSize = size ? attributes(size[1]!).get('package') : undefined;
  const out: PrimaryPackage = {
    href,
    checksumType: (attributes(sum[1]!).get('type') ?? '').toLowerCase(),
    checksum: unescapeXml(sum[2]!).trim().toLowerCase(),
  };
  if (pkgSize && /^\d+$/.test(pkgSize)) out.size = Number(pkgSize);
  const base = la.get('xml:base');
  if (base) out.base = base;
  return out;
}

/**
 * Stream the `<package>` entries of primary.xml (gzip or plain) without building a DOM: each element is cut out
 * of the decompressed text when its end tag arrives, so memory stays at one element whatever the file size.
 */
export async function* scanPrimary(body: Buffer): AsyncGenerator<PrimaryPackage> {
  const compression = compressionOf(body);
  const source = Readable.from([body]);
  let stream: Readable;
  if (compression === 'gzip') stream = source.pipe(zlib.createGunzip());
  else if (compression === 'none') stream = source;
  else if (compression === 'zstd' && zstdDecompressor) stream = source.pipe(zstdDecompressor()) as unknown as Readable;
  else throw new Error(`${compression}-compressed primary.xml is not supported by this Node.js runtime`);
  const decoder = new StringDecoder('utf8');
  let buf = '';
  let searchFrom = 0;
  for await (const chunk of stream) {
    buf += decoder.write(chunk as Buffer);
    for (;;) {
      const end = buf.indexOf('</package>', searchFrom);
      if (end < 0) {
        searchFrom = Math.max(0, buf.length - '</package>'.length);
        break;
      }
      const block = buf.slice(0, end);
      const start = block.search(PACKAGE_START);
      buf = buf.slice(end + '</package>'.length);
      searchFrom = 0;
      const p = start >= 0 ? parsePackage(block.slice(start)) : undefined;
      if (p) yield p;
    }
    // Drop text before the next element (the XML prolog, whitespace) so only one element is ever kept.
    const next = buf.search(PACKAGE_START);
    if (next > 0) {
      buf = buf.slice(next);
      searchFrom = Math.max(0, searchFrom - next);
    }
    if (buf.length > MAX_PACKAGE_ELEMENT) throw new Error('a <package> element of primary.xml exceeds 64 MiB');
  }
}
