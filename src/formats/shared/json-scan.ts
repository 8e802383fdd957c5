import { isUtf8 } from 'node:buffer';

/**
 * Validating, non-materialising JSON navigation over a Buffer. Large documents (npm packuments reach tens of MB)
 * are rewritten by copying byte ranges of the input and re-encoding only the few small values that change:
 * `JSON.parse` of such a document costs several times its size in heap, this costs nothing beyond the output.
 * Every value it steps over is checked against RFC 8259 grammar, so a document it accepts is one JSON.parse accepts.
 */
export class JsonSyntaxError extends Error {}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 1000;

/** One member of an object: its decoded key and the byte range of its value. */
export interface JsonEntry {
  key: string;
  start: number;
  end: number;
}

export class JsonScan {
  constructor(readonly buf: Buffer) {
    if (!isUtf8(buf)) throw new JsonSyntaxError('not UTF-8');
  }

  /** The whole buffer's single top-level value: its [start, end). */
  root(): { start: number; end: number } {
    const start = this.ws(0);
    const end = this.valueEnd(start);
    if (this.ws(end) !== this.buf.length) this.fail(end, 'data after the document');
    return { start, end };
  }

  /** The byte at i, after whitespace: '{', '[', '"' or the start of a scalar. */
  kind(i: number): string {
    return String.fromCharCode(this.buf[i] ?? 0);
  }

  raw(start: number, end: number): Buffer {
    return this.buf.subarray(start, end);
  }

  /** Decode one (small) value: only for values the caller changes. */
  parse<T = unknown>(start: number, end: number): T {
    return JSON.parse(this.buf.toString('utf8', start, end)) as T;
  }

  /** The members of the object starting at `start` (which must be '{'), in document order. */
  *entries(start: number): Generator<JsonEntry> {
    const b = this.buf;
    if (b[start] !== 0x7b) this.fail(start, 'expected an object');
    let i = this.ws(start + 1);
    if (b[i] === 0x7d) return;
    for (;;) {
      if (b[i] !== QUOTE) this.fail(i, 'expected a key');
      const keyEnd = this.stringEnd(i);
      const key = JSON.parse(b.toString('utf8', i, keyEnd)) as string;
      i = this.ws(keyEnd);
      if (b[i] !== 0x3a) this.fail(i, "expected ':'");
      const vs = this.ws(i + 1);
      const ve = this.valueEnd(vs);
      yield { key, start: vs, end: ve };
      i = this.ws(ve);
      if (b[i] === 0x2c) {
        i = this.ws(i + 1);
        continue;
      }
      if (b[i] === 0x7d) return;
      this.fail(i, "expected ',' or '}'");
    }
  }

  /** Index after the value starting at `i` (validated). */
  valueEnd(i: number, depth = 0): number {
    const b = this.buf;
    const c = b[i];
    if (c === QUOTE) return this.stringEnd(i);
    if (c === 0x7b || c === 0x5b) {
      if (depth >= MAX_DEPTH) this.fail(i, 'nested too deeply');
      const close = c === 0x7b ? 0x7d : 0x5d;
      let j = this.ws(i + 1);
      if (b[j] === close) return j + 1;
      for (;;) {
        if (c === 0x7b) {
          if (b[j] !== QUOTE) this.fail(j, 'expected a key');
          j = this.ws(this.stringEnd(j));
          if (b[j] !== 0x3a) this.fail(j, "expected ':'");
          j = this.ws(j + 1);
        }
        j = this.ws(this.valueEnd(j, depth + 1));
        if (b[j] === 0x2c) {
          j = this.ws(j + 1);
          continue;
        }
        if (b[j] === close) return j + 1;
        this.fail(j, `expected ',' or '${String.fromCharCode(close)}'`);
      }
    }
    if (c === 0x74) return this.literal(i, 'true');
    if (c === 0x66) return this.literal(i, 'false');
    if (c === 0x6e) return this.literal(i, 'null');
    return this.numberEnd(i);
  }

  /** Index after whitespace starting at i. */
  ws(i: number): number {
    const b = this.buf;
    while (i < b.length) {
      const c = b[i];
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    return i;
  }

  private stringEnd(i: number): number {
    const b = this.buf;
    let j = i + 1;
    for (;;) {
      if (j >= b.length) this.fail(i, 'unterminated string');
      const c = b[j]!;
      if (c === QUOTE) return j + 1;
      if (c < 0x20) this.fail(j, 'control character in a string');
      if (c === BACKSLASH) {
        const e = b[j + 1];
        if (e === 0x75) {
          if (!/^[0-9a-fA-F]{4}$/.test(b.toString('latin1', j + 2, j + 6))) this.fail(j, 'bad \\u escape');
          j += 6;
        } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          j += 2;
        } else {
          this.fail(j, 'bad escape');
        }
        continue;
      }
      j++;
    }
  }

  private literal(i: number, word: string): number {
    if (this.buf.toString('latin1', i, i + word.length) !== word) this.fail(i, 'unexpected token');
    return i + word.length;
  }

  private numberEnd(i: number): number {
    const b = this.buf;
    let j = i;
    const digits = () => {
      const from = j;
      while (b[j]! >= 0x30 && b[j]! <= 0x39) j++;
      return j - from;
    };
    if (b[j] === 0x2d) j++;
    if (b[j] === 0x30) j++;
    else if (digits() === 0) this.fail(i, 'unexpected token');
    if (b[j] === 0x2e) {
      j++;
      if (digits() === 0) this.fail(j, 'bad number');
    }
    if (b[j] === 0x65 || b[j] === 0x45) {
      j++;
      if (b[j] === 0x2b || b[j] === 0x2d) j++;
      if (digits() === 0) this.fail(j, 'bad number');
    }
    return j;
  }

  private fail(at: number, what: string): never {
    throw new JsonSyntaxError(`${what} at byte ${at}`);
  }
}

/** Output assembled from slices of the input and small new pieces; one copy at the end. */
export class JsonWriter {
  private readonly parts: Buffer[] = [];
  private n = 0;

  raw(b: Buffer): this {
    this.parts.push(b);
    this.n += b.length;
    return this;
  }

  text(s: string): this {
    return this.raw(Buffer.from(s));
  }

  value(v: unknown): this {
    return this.text(JSON.stringify(v));
  }

  /** `"key":` — preceded by ',' unless `first`. */
  key(k: string, first: boolean): this {
    return this.text(`${first ? '' : ','}${JSON.stringify(k)}:`);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.n);
  }
}
