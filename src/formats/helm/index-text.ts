import { FirstWins, newest } from './index-model.js';
import { compareChartVersions } from './semver.js';
import { emitKey, emitYaml, plainValue, type YamlValue } from './yaml.js';

/**
 * Merging index.yaml files without parsing their entries. The members of a virtual repository serve index files
 * this server wrote itself (a local's generated index, a remote's rewritten one, another virtual's merge), all with
 * `emitYaml`: one line per scalar, entries at two spaces, each chart version one `  - ` sequence item. In that form
 * a chart version is a run of lines that can be copied as bytes; only its name and version are read. Parsing and
 * re-emitting 20,000 entries instead costs seconds and hundreds of MB. Any line outside that form (multi-line or
 * single-quoted scalars, comments, anchors, tabs, CR, flow collections, plain numbers) makes `mergeIndexText`
 * answer null, and the caller merges by parsing: for what `emitYaml` writes both give the same bytes.
 */

/** One chart version of a member index: its sequence item's bytes (from `  - ` to its last newline). */
interface Item {
  name: string;
  version: string;
  body: Buffer;
}

interface ScannedIndex {
  generated: YamlValue | undefined;
  entries: Array<[key: string, items: Item[]]>;
}

const NL = 10;
const SP = 32;
const DQ = 34;
const HASH = 35;
const DASH = 45;
const DOT = 46;
const COLON = 58;
const BACKSLASH = 92;

const byteSet = (chars: string) => {
  const set = new Uint8Array(256);
  for (const c of chars) set[c.charCodeAt(0)] = 1;
  return set;
};
const DIGITS = '0123456789';
/** First characters `emitYaml` writes a plain scalar with (it quotes anything else). */
const PLAIN_START = byteSet(`ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz${DIGITS}_./`);
/** First characters of the short words YAML reads as booleans or null (y, no, on, off, ~…). */
const WORD_START = byteSet('yYnNtTfFoO~');
/** The characters of decimal and sexagesimal numbers: a plain scalar starting with 1-9 with any other is a string. */
const DECIMAL = byteSet(`${DIGITS}_.eE+-:`);
const isDigit = (c: number | undefined) => c !== undefined && c >= 48 && c <= 57;

/**
 * Whether YAML might read the plain text [s, e) as something other than a string: a cheap byte test that passes
 * the common strings (versions with two dots, hex digests, words) without decoding them.
 */
function mayBeTyped(b: Buffer, s: number, e: number): boolean {
  const c = b[s]!;
  if (e - s <= 5 && WORD_START[c]) return true;
  if (c === 48 || c === DOT) return true; // 0x…, 0o…, 0b…, .5, .inf, .nan
  if (!isDigit(c)) return false;
  // yyyy-mm-dd… reads as a timestamp whatever follows.
  if (e - s >= 8 && isDigit(b[s + 1]) && isDigit(b[s + 2]) && isDigit(b[s + 3]) && b[s + 4] === DASH) return true;
  let dots = 0;
  for (let p = s; p < e; p++) {
    const x = b[p]!;
    if (!DECIMAL[x]) return false;
    if (x === DOT && ++dots > 1) return false;
  }
  return true;
}

/**
 * The next position at or after `from` holding `byte` where `accept` agrees. Lines are read in order, so a found
 * position is reused until the reader passes it: the document is searched (natively) about once.
 */
class Finder {
  private from = Infinity;
  private at = -1;

  constructor(
    private readonly b: Buffer,
    private readonly byte: number,
    private readonly accept: (i: number) => boolean,
  ) {}

  next(from: number): number {
    if (this.at < from || from < this.from) {
      this.from = from;
      let i = this.b.indexOf(this.byte, from);
      while (i >= 0 && !this.accept(i)) i = this.b.indexOf(this.byte, i + 1);
      this.at = i < 0 ? Infinity : i;
    }
    return this.at;
  }
}

class NotCanonical extends Error {}

/** The index lines of one document, checked against the form `emitYaml` writes. */
class IndexLines {
  private readonly colon: Finder;
  private readonly quote: Finder;
  private readonly comment: Finder;
  /** The last line `shape` accepted: a mapping key [keyStart, keyEnd) and its value from valueStart, or no key. */
  isKey = false;
  keyStart = 0;
  keyEnd = 0;
  valueStart = 0;

  constructor(private readonly b: Buffer) {
    // A mapping key ends at `: ` or at a colon ending the line; a comment starts at ` #`.
    this.colon = new Finder(b, COLON, (i) => b[i + 1] === SP || b[i + 1] === NL);
    this.quote = new Finder(b, DQ, () => true);
    this.comment = new Finder(b, HASH, (i) => b[i - 1] === SP);
  }

  /** End (after the closing quote) of the double-quoted scalar at `s`, or -1 when it does not close before `e`. */
  private quotedEnd(s: number, e: number): number {
    for (let q = this.quote.next(s + 1); q < e; q = this.quote.next(q + 1)) {
      let n = 0;
      while (this.b[q - 1 - n] === BACKSLASH) n++;
      if (n % 2 === 0) return q + 1;
    }
    return -1;
  }

  /**
   * A plain scalar on [s, e) as `emitYaml` writes one: no comment and, for a value, nothing YAML reads as another
   * type (numbers, yes/no/on/off…) since it would have quoted that, except the booleans and null it writes itself.
   * Keys are strings to the parser whatever they say.
   */
  private plainOk(s: number, e: number, value: boolean): boolean {
    const b = this.b;
    if (!PLAIN_START[b[s]!] || this.comment.next(s) < e) return false;
    if (!value || !mayBeTyped(b, s, e)) return true;
    const t = b.toString('utf8', s, e);
    return t === 'true' || t === 'false' || t === 'null' || emitKey(t) === t;
  }

  /** A value after `key: ` (or the empty value of a key whose node follows on the next lines). */
  private valueOk(s: number, e: number): boolean {
    if (s === e) return true;
    const c = this.b[s]!;
    if (c === DQ) return this.quotedEnd(s, e) === e;
    if (c === 0x5b || c === 0x7b) return e - s === 2 && this.b[s + 1] === c + 2; // [] or {}
    return this.plainOk(s, e, true);
  }

  private noKey(valueStart: number): boolean {
    this.isKey = false;
    this.valueStart = valueStart;
    return true;
  }

  /** Whether the content [s, e) of one line is in the form; sets the key fields. */
  shape(s: number, e: number): boolean {
    const b = this.b;
    let dashed = false;
    while (b[s] === DASH && (s + 1 === e || b[s + 1] === SP)) {
      if (s + 1 === e) return this.noKey(e); // `-` alone: a nested node follows
      dashed = true;
      s += 2;
    }
    let keyEnd: number;
    if (b[s] === DQ) {
      const q = this.quotedEnd(s, e);
      if (q < 0) return false;
      if (q === e) return dashed && this.noKey(s);
      if (b[q] !== COLON || (q + 1 < e && b[q + 1] !== SP)) return false;
      keyEnd = q;
    } else {
      const c = this.colon.next(s);
      if (c >= e) return dashed && this.valueOk(s, e) && this.noKey(s);
      keyEnd = c;
      if (keyEnd === s || b[keyEnd - 1] === SP || !this.plainOk(s, keyEnd, false)) return false;
    }
    const valueStart = keyEnd + 1 === e ? e : keyEnd + 2;
    if (!this.valueOk(valueStart, e)) return false;
    this.isKey = true;
    this.keyStart = s;
    this.keyEnd = keyEnd;
    this.valueStart = valueStart;
    return true;
  }

  /** The current line's key (plain keys are strings whatever they say). */
  key(): string {
    return this.b[this.keyStart] === DQ ? this.quoted(this.keyStart, this.keyEnd) : this.b.toString('utf8', this.keyStart, this.keyEnd);
  }

  /** The current line's value when it is a scalar (undefined for a nested node or an empty flow collection). */
  value(e: number): YamlValue | undefined {
    const s = this.valueStart;
    const c = this.b[s];
    if (s === e || c === 0x5b || c === 0x7b) return undefined;
    return c === DQ ? this.quoted(s, e) : plainValue(this.b.toString('utf8', s, e));
  }

  private quoted(s: number, e: number): string {
    try {
      // `emitYaml` quotes with JSON's escapes; YAML-only escapes are left to the parsing merge.
      return JSON.parse(this.b.toString('utf8', s, e)) as string;
    } catch {
      throw new NotCanonical();
    }
  }
}

/** The chart versions of an index.yaml in `emitYaml`'s form, or null. */
function scanIndex(b: Buffer): ScannedIndex | null {
  if (b.length === 0 || b[b.length - 1] !== NL || b.indexOf(13) >= 0 || b.indexOf(9) >= 0) return null;
  const lines = new IndexLines(b);
  const out: ScannedIndex = { generated: undefined, entries: [] };
  const rootKeys = new Set<string>();
  const chartKeys = new Set<string>();
  let inEntries = false;
  let items: Item[] | undefined; // the current chart's list
  let chart = '';
  // The open item: where it starts, its name and version as the parser reads them (`emitYaml` writes each key once;
  // a repeated name or version is left to the parsing merge).
  let itemStart = -1;
  let name: YamlValue | undefined;
  let version: YamlValue | undefined;
  let seenName = false;
  let seenVersion = false;
  const close = (end: number) => {
    if (itemStart >= 0 && typeof version === 'string' && version !== '') items!.push({ name: typeof name === 'string' ? name : chart, version, body: b.subarray(itemStart, end) });
    itemStart = -1;
  };
  try {
    for (let s = 0; s < b.length; ) {
      const e = b.indexOf(NL, s);
      let ind = s;
      while (b[ind] === SP) ind++;
      if (ind === e || b[ind] === HASH || b[e - 1] === SP || !lines.shape(ind, e)) return null;
      const indent = ind - s;
      if (indent === 0) {
        close(s);
        if (!lines.isKey || b[ind] === DASH) return null;
        const k = lines.key();
        if (rootKeys.has(k)) return null;
        rootKeys.add(k);
        inEntries = k === 'entries';
        if (inEntries) {
          if (lines.valueStart !== e && !(e - lines.valueStart === 2 && b[lines.valueStart] === 0x7b)) return null; // nested, or {}
        } else if (k === 'generated') out.generated = lines.value(e);
        s = e + 1;
        continue;
      }
      if (inEntries && indent === 2) {
        close(s);
        if (!lines.isKey) return null;
        if (b[ind] === DASH) {
          // A chart version: a mapping item of the current chart's list.
          if (!items || b[ind + 2] === DASH) return null;
          itemStart = s;
          name = version = undefined;
          seenName = seenVersion = false;
        } else {
          chart = lines.key();
          if (chartKeys.has(chart)) return null;
          chartKeys.add(chart);
          const empty = e - lines.valueStart === 2 && b[lines.valueStart] === 0x5b;
          if (lines.valueStart !== e && !empty) return null; // a list follows, or []
          items = [];
          out.entries.push([chart, items]);
          if (empty) items = undefined;
          s = e + 1;
          continue;
        }
      } else if (inEntries) {
        // Inside a chart version: its own keys are at four spaces (lines there starting with `- ` are a value's items).
        if (itemStart < 0 || indent < 4) return null;
        if (indent > 4 || b[ind] === DASH) {
          s = e + 1;
          continue;
        }
      } else {
        s = e + 1;
        continue;
      }
      // A key of the open chart version (on its `  - ` line or at four spaces): only name and version are read.
      const n = lines.keyEnd - lines.keyStart;
      if (n === 4 || n === 7 || b[lines.keyStart] === DQ) {
        const k = lines.key();
        if (k === 'name') {
          if (seenName) return null;
          seenName = true;
          name = lines.value(e);
        } else if (k === 'version') {
          if (seenVersion) return null;
          seenVersion = true;
          version = lines.value(e);
        }
      }
      s = e + 1;
    }
  } catch (err) {
    if (err instanceof NotCanonical) return null;
    throw err;
  }
  close(b.length);
  return rootKeys.has('entries') ? out : null;
}

/**
 * The members' indexes merged (first member wins per name+version, each chart's versions newest first, charts by
 * name), as `renderIndex` writes the parsed merge; null when a member's index is not in `emitYaml`'s form.
 */
export function mergeIndexText(bodies: Buffer[]): Buffer | null {
  const entries = new FirstWins<Item>();
  const lists = entries.lists;
  const times: string[] = [];
  for (const body of bodies) {
    const doc = scanIndex(body);
    if (!doc) return null;
    if (typeof doc.generated === 'string') times.push(doc.generated);
    // In the order the parser's mapping enumerates them (integer-like keys first).
    const byKey = Object.create(null) as Record<string, Item[]>;
    for (const [key, items] of doc.entries) byKey[key] = items;
    for (const [key, items] of Object.entries(byKey)) for (const it of items) entries.add(key, it.name, it.version, it);
  }
  // Chart names in the order an object filled in sorted order enumerates them, as `renderIndex` writes them.
  const order: Record<string, true> = {};
  for (const k of [...lists.keys()].sort()) order[k] = true;
  const names = Object.keys(order);
  const parts: Buffer[] = [Buffer.from(emitYaml({ apiVersion: 'v1' }) + (names.length ? 'entries:\n' : 'entries: {}\n'))];
  for (const k of names) {
    parts.push(Buffer.from(`  ${emitKey(k)}:\n`));
    for (const it of lists.get(k)!.sort((a, b) => compareChartVersions(b.version, a.version))) parts.push(it.body);
  }
  parts.push(Buffer.from(emitYaml({ generated: newest(times) })));
  return Buffer.concat(parts);
}
