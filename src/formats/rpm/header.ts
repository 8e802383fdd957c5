import { badRequest } from '../../errors.js';
import type { StagedBlob } from '../types.js';

/**
 * The binary layout of an .rpm file (rpm's lib/header.c, the "RPM file format" spec): a 96-byte lead, the
 * signature header padded to 8 bytes, the main header, then the payload. A header is an intro (magic 8e ad e8 01,
 * 4 reserved bytes, entry count, data size), 16-byte index entries (tag, type, offset, count) and the data store.
 */
const LEAD_SIZE = 96;
const LEAD_MAGIC = Buffer.from([0xed, 0xab, 0xee, 0xdb]);
const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01]);
const INTRO_SIZE = 16;
/** rpm refuses headers above 256 MiB; real ones (kernel, texlive) stay well under this. */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 0xffff;

const enum TagType {
  Null = 0,
  Char = 1,
  Int8 = 2,
  Int16 = 3,
  Int32 = 4,
  Int64 = 5,
  String = 6,
  Bin = 7,
  StringArray = 8,
  I18nString = 9,
}

export type TagValue = string[] | number[] | Buffer;

/** One parsed header: tag → value (strings as arrays, numbers as arrays, BIN as a Buffer). */
export class RpmHeader {
  constructor(readonly tags: ReadonlyMap<number, TagValue>) {}

  has(tag: number): boolean {
    return this.tags.has(tag);
  }

  /** First string (I18N strings: the C locale, which comes first). */
  string(tag: number): string | undefined {
    const v = this.tags.get(tag);
    return Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
  }

  strings(tag: number): string[] {
    const v = this.tags.get(tag);
    return Array.isArray(v) && (v.length === 0 || typeof v[0] === 'string') ? (v as string[]) : [];
  }

  number(tag: number): number | undefined {
    const v = this.tags.get(tag);
    return Array.isArray(v) && typeof v[0] === 'number' ? v[0] : undefined;
  }

  numbers(tag: number): number[] {
    const v = this.tags.get(tag);
    return Array.isArray(v) && (v.length === 0 || typeof v[0] === 'number') ? (v as number[]) : [];
  }
}

export interface ParsedRpm {
  /** 0 binary, 1 source (from the lead; the headers are authoritative). */
  leadType: number;
  signature: RpmHeader;
  main: RpmHeader;
  /** Byte offsets of the main header in the file (createrepo's rpm:header-range). */
  headerStart: number;
  headerEnd: number;
}

function invalid(message: string): never {
  throw badRequest('RPM_INVALID', `not a valid rpm package: ${message}`);
}

async function readRange(blob: StagedBlob, start: number, length: number): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  if (start + length > blob.size) invalid(`file ends at byte ${blob.size}, the headers need ${start + length}`);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of await blob.open({ start, end: start + length - 1 })) {
    parts.push(c as Buffer);
    n += (c as Buffer).length;
  }
  const out = Buffer.concat(parts, n);
  if (out.length < length) invalid('truncated header');
  return out.subarray(0, length);
}

/** Size of the header whose 16-byte intro is `intro` (intro + index + data). */
function headerSize(intro: Buffer, what: string): { entries: number; dataSize: number; total: number } {
  if (!intro.subarray(0, 4).equals(HEADER_MAGIC)) invalid(`${what} has no header magic 8e ad e8 01`);
  const entries = intro.readUInt32BE(8);
  const dataSize = intro.readUInt32BE(12);
  if (entries === 0 || entries > MAX_ENTRIES) invalid(`${what} has ${entries} index entries`);
  const total = INTRO_SIZE + entries * 16 + dataSize;
  if (total > MAX_HEADER_BYTES) invalid(`${what} is ${total} bytes`);
  return { entries, dataSize, total };
}

/** Decode a complete header (intro included); every offset and count is checked against the data store. */
export function parseHeader(buf: Buffer, what: string): RpmHeader {
  const { entries, dataSize, total } = headerSize(buf, what);
  if (buf.length < total) invalid(`${what} is truncated`);
  const storeStart = INTRO_SIZE + entries * 16;
  const store = buf.subarray(storeStart, storeStart + dataSize);
  const tags = new Map<number, TagValue>();
  for (let i = 0; i < entries; i++) {
    const e = INTRO_SIZE + i * 16;
    const tag = buf.readUInt32BE(e);
    const type = buf.readUInt32BE(e + 4);
    const offset = buf.readUInt32BE(e + 8);
    const count = buf.readUInt32BE(e + 12);
    if (offset > dataSize) invalid(`${what} tag ${tag} points outside the data store`);
    const value = readValue(store, type, offset, count, `${what} tag ${tag}`);
    if (value !== undefined) tags.set(tag, value);
  }
  return new RpmHeader(tags);
}

function readValue(store: Buffer, type: number, offset: number, count: number, what: string): TagValue | undefined {
  const need = (bytes: number) => {
    if (count > store.length || offset + bytes > store.length) invalid(`${what} overruns the data store`);
  };
  switch (type as TagType) {
    case TagType.Null:
      return undefined;
    case TagType.Char:
    case TagType.Int8:
      need(count);
      return [...store.subarray(offset, offset + count)];
    case TagType.Int16: {
      need(count * 2);
      const out: number[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = store.readUInt16BE(offset + i * 2);
      return out;
    }
    case TagType.Int32: {
      need(count * 4);
      const out: number[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = store.readUInt32BE(offset + i * 4);
      return out;
    }
    case TagType.Int64: {
      need(count * 8);
      const out: number[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = Number(store.readBigUInt64BE(offset + i * 8));
      return out;
    }
    case TagType.Bin:
      need(count);
      return Buffer.from(store.subarray(offset, offset + count));
    case TagType.String:
    case TagType.StringArray:
    case TagType.I18nString: {
      const n = type === TagType.String ? 1 : count;
      if (n > store.length) invalid(`${what} overruns the data store`);
      const out: string[] = new Array(n);
      let p = offset;
      for (let i = 0; i < n; i++) {
        const end = store.indexOf(0, p);
        if (end < 0) invalid(`${what} has an unterminated string`);
        out[i] = store.toString('utf8', p, end);
        p = end + 1;
      }
      return out;
    }
    default:
      invalid(`${what} has unknown type ${type}`);
  }
}

/**
 * Read and decode the lead, the signature header and the main header of a staged upload; only the header bytes
 * are read, never the payload.
 */
export async function readRpmHeaders(blob: StagedBlob): Promise<ParsedRpm> {
  if (blob.size < LEAD_SIZE + INTRO_SIZE) invalid(`${blob.size} bytes is too short for an rpm`);
  const head = await readRange(blob, 0, LEAD_SIZE + INTRO_SIZE);
  if (!head.subarray(0, 4).equals(LEAD_MAGIC)) invalid('no rpm lead magic ed ab ee db');
  const leadType = head.readUInt16BE(6);
  const sigIntro = head.subarray(LEAD_SIZE);
  const sig = headerSize(sigIntro, 'signature header');
  const sigBuf = Buffer.concat([sigIntro, await readRange(blob, LEAD_SIZE + INTRO_SIZE, sig.total - INTRO_SIZE)]);
  const signature = parseHeader(sigBuf, 'signature header');
  // The signature header is padded so that the main header starts on an 8-byte boundary.
  const headerStart = LEAD_SIZE + sig.total + ((8 - (sig.total % 8)) % 8);
  const mainIntro = await readRange(blob, headerStart, INTRO_SIZE);
  const main = headerSize(mainIntro, 'main header');
  const mainBuf = Buffer.concat([mainIntro, await readRange(blob, headerStart + INTRO_SIZE, main.total - INTRO_SIZE)]);
  return { leadType, signature, main: parseHeader(mainBuf, 'main header'), headerStart, headerEnd: headerStart + main.total };
}
