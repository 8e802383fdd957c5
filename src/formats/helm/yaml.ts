import YAML from 'yaml';

/**
 * YAML for Helm repository indexes. Real indexes are tens of MB, and the `yaml` package needs ~17 s to parse 28 MB
 * (blocking the event loop). Indexes are written by Go's YAML emitters (helm repo index, ChartMuseum, chart-releaser):
 * block mappings and sequences, plain and quoted scalars, literal blocks. That subset is parsed here in one pass;
 * anything outside it (anchors, tags, flow collections, multiple documents) falls back to the `yaml` package for
 * documents small enough to parse that way.
 *
 * Scalars keep their text: numbers stay strings (`version: 1.10` is the string "1.10", which is what Helm reads into
 * its string fields), `true`/`false` are booleans, `null`/`~`/empty are null.
 */
export type YamlValue = string | boolean | null | number | YamlValue[] | YamlMap;
export interface YamlMap {
  [key: string]: YamlValue;
}

class Unsupported extends Error {}

/** The fallback parser's input limit: above it an index outside the fast subset is refused rather than parsed. */
const FALLBACK_MAX = 4 * 1024 * 1024;

const FALLBACK_OPTIONS = {
  schema: 'core' as const,
  // Numbers stay strings, as Helm reads them into string fields.
  customTags: (tags: YAML.Tags) => tags.filter((t) => typeof t === 'string' || (t.tag !== 'tag:yaml.org,2002:int' && t.tag !== 'tag:yaml.org,2002:float')),
  maxAliasCount: 100,
  uniqueKeys: false,
};

export class YamlError extends Error {}

/** Parse a YAML (or JSON) document; throws YamlError when it is not valid or too large for the slow path. */
export function parseYaml(text: string): YamlValue {
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const first = /\S/.exec(t);
  if (first && t[first.index] === '{') {
    try {
      return JSON.parse(t) as YamlValue;
    } catch {
      /* YAML flow mapping, not JSON: fall through */
    }
  }
  try {
    return new FastParser(t).document();
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err;
  }
  if (t.length > FALLBACK_MAX) throw new YamlError(`document uses YAML features outside the index subset and is larger than ${FALLBACK_MAX} bytes`);
  try {
    const doc = YAML.parseDocument(t, FALLBACK_OPTIONS);
    if (doc.errors.length) throw new YamlError(doc.errors[0]!.message);
    return doc.toJS({ maxAliasCount: 100 }) as YamlValue;
  } catch (err) {
    if (err instanceof YamlError) throw err;
    throw new YamlError((err as Error).message);
  }
}

// ---------- fast subset parser ----------

const SPACE = 32;
const HASH = 35;
const TAB = 9;

/** A plain scalar's value: `null`/`~`/empty are null, `true`/`false` booleans, everything else the text itself. */
export function plainValue(s: string): YamlValue {
  switch (s) {
    case '':
    case '~':
    case 'null':
    case 'Null':
    case 'NULL':
      return null;
    case 'true':
    case 'True':
    case 'TRUE':
      return true;
    case 'false':
    case 'False':
    case 'FALSE':
      return false;
  }
  return s;
}

/** A plain scalar's text on one line: up to a ` #` comment, trailing blanks removed. */
function stripComment(s: string): string {
  if (s.charCodeAt(0) === HASH) return '';
  const at = s.search(/[ \t]#/);
  return (at >= 0 ? s.slice(0, at) : s).trimEnd();
}

const ESCAPES: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b', ' ': ' ', '"': '"', '/': '/', '\\': '\\',
  N: '\u0085', _: '\u00a0', L: '\u2028', P: '\u2029',
};

class FastParser {
  private readonly lines: string[];
  private i = 0;

  constructor(text: string) {
    this.lines = text.split('\n');
    for (let k = 0; k < this.lines.length; k++) {
      const l = this.lines[k]!;
      if (l.endsWith('\r')) this.lines[k] = l.slice(0, -1);
    }
  }

  document(): YamlValue {
    let ind = this.peek();
    if (ind === 0 && this.lines[this.i]!.startsWith('%')) throw new Unsupported('directive');
    if (ind === 0 && /^---\s*$/.test(this.lines[this.i]!)) {
      this.i++;
      ind = this.peek();
    }
    if (ind < 0) return null;
    const root = this.node(0, false);
    const rest = this.peek();
    if (rest >= 0 && !/^\.\.\.\s*$/.test(this.lines[this.i]!)) throw new Unsupported('content after the root node');
    return root;
  }

  /** Indentation of the next line with content (skipping blank and comment lines), -1 at the end. */
  private peek(): number {
    while (this.i < this.lines.length) {
      const l = this.lines[this.i]!;
      let n = 0;
      while (n < l.length && l.charCodeAt(n) === SPACE) n++;
      if (n === l.length || l.charCodeAt(n) === HASH) {
        this.i++;
        continue;
      }
      if (l.charCodeAt(n) === TAB) {
        if (/^\s*$/.test(l)) {
          this.i++;
          continue;
        }
        throw new Unsupported('tab indentation');
      }
      return n;
    }
    return -1;
  }

  /** The node starting on the next content line, whose indentation must be at least `min`. */
  private node(min: number, inSeqItem: boolean): YamlValue {
    const ind = this.peek();
    if (ind < min) return null;
    const c = this.lines[this.i]!.slice(ind);
    if (c === '-' || c.startsWith('- ') || c.startsWith('-\t')) return this.sequence(ind);
    if (mapKey(c)) return this.mapping(ind);
    // A scalar alone on its line(s).
    return this.value(c, ind - 1, inSeqItem);
  }

  private mapping(ind: number): YamlMap {
    const out: YamlMap = Object.create(null) as YamlMap;
    while (this.peek() === ind) {
      const c = this.lines[this.i]!.slice(ind);
      const k = mapKey(c);
      if (!k) break;
      out[k.key] = this.value(k.rest, ind, false);
    }
    const next = this.peek();
    if (next > ind) throw new Unsupported(`unexpected indentation at line ${this.i + 1}`);
    return out;
  }

  private sequence(ind: number): YamlValue[] {
    const out: YamlValue[] = [];
    for (;;) {
      if (this.peek() !== ind) break;
      const line = this.lines[this.i]!;
      const c = line.slice(ind);
      if (!(c === '-' || c.startsWith('- ') || c.startsWith('-\t'))) break;
      let s = 1;
      while (s < c.length && (c.charCodeAt(s) === SPACE || c.charCodeAt(s) === TAB)) s++;
      const rest = c.slice(s);
      if (rest === '' || rest.charCodeAt(0) === HASH) {
        this.i++;
        out.push(this.node(ind + 1, true));
        continue;
      }
      if (c.slice(1, s).includes('\t')) throw new Unsupported('tab after sequence indicator');
      if (rest === '-' || rest.startsWith('- ') || mapKey(rest)) {
        // `- key: value` / `- - x`: the item is a block node whose indentation is the column of its first character.
        this.lines[this.i] = ' '.repeat(ind + s) + rest;
        out.push(this.node(ind + s, true));
        continue;
      }
      out.push(this.value(rest, ind, true));
    }
    if (this.peek() > ind) throw new Unsupported(`unexpected indentation at line ${this.i + 1}`);
    return out;
  }

  /**
   * The value after `key:` (or `- `) on the current line, `rest` being the text after the indicator; `owner` is the
   * indentation of the key or dash: continuation lines are indented more than it.
   */
  private value(rest: string, owner: number, inSeqItem: boolean): YamlValue {
    const r = rest.replace(/^[ \t]+/, '');
    const ch = r.charAt(0);
    if (r === '' || ch === '#') {
      this.i++;
      const next = this.peek();
      if (next < 0) return null;
      const c = this.lines[this.i]!.slice(next);
      // Go's emitters put a mapping's sequence values at the key's own indentation.
      if (!inSeqItem && next === owner && (c === '-' || c.startsWith('- '))) return this.sequence(next);
      if (next > owner) return this.node(owner + 1, inSeqItem);
      return null;
    }
    if (ch === '|' || ch === '>') return this.blockScalar(r, owner);
    if (ch === '"') return this.quoted(r, '"');
    if (ch === "'") return this.quoted(r, "'");
    if (ch === '[' || ch === '{') {
      const t = stripComment(r);
      this.i++;
      if (t === '[]') return [];
      if (t === '{}') return Object.create(null) as YamlMap;
      throw new Unsupported('flow collection');
    }
    if (ch === '&' || ch === '*' || ch === '!' || ch === '%' || ch === '@' || ch === '`') throw new Unsupported(`indicator ${ch}`);
    if ((ch === '-' || ch === '?' || ch === ':') && (r.length === 1 || r[1] === ' ' || r[1] === '\t')) throw new Unsupported(`indicator ${ch}`);
    // Plain scalar, maybe continued on more-indented lines.
    let text = stripComment(r);
    const commented = text.length < r.trimEnd().length;
    this.i++;
    if (commented) return plainValue(text);
    let blanks = 0;
    while (this.i < this.lines.length) {
      const l = this.lines[this.i]!;
      let n = 0;
      while (n < l.length && l.charCodeAt(n) === SPACE) n++;
      if (n === l.length || /^\s*$/.test(l)) {
        blanks++;
        this.i++;
        continue;
      }
      if (n <= owner || l.charCodeAt(n) === HASH) break;
      const cont = l.slice(n);
      if (/^-( |\t|$)/.test(cont) || mapKey(cont)) throw new Unsupported(`ambiguous continuation at line ${this.i + 1}`);
      const piece = stripComment(cont);
      text += blanks ? '\n'.repeat(blanks) + piece : ' ' + piece;
      blanks = 0;
      this.i++;
      if (piece.length < cont.trimEnd().length) break;
    }
    return plainValue(text);
  }

  private blockScalar(header: string, owner: number): string {
    const m = /^([|>])([-+]?)([1-9]?)([-+]?)(?:[ \t]+#.*|[ \t]*)$/.exec(header);
    if (!m || (m[2] && m[4])) throw new Unsupported('block scalar header');
    const folded = m[1] === '>';
    const chomp = m[2] || m[4];
    this.i++;
    // With an indentation indicator d, content sits d columns right of the owning key (or dash).
    let indent = m[3] ? owner + Number(m[3]) : -1;
    const body: string[] = [];
    while (this.i < this.lines.length) {
      const l = this.lines[this.i]!;
      let n = 0;
      while (n < l.length && l.charCodeAt(n) === SPACE) n++;
      const blank = n === l.length;
      if (indent < 0 && !blank) {
        if (n <= owner) break;
        indent = n;
      }
      if (blank) {
        body.push(indent >= 0 && n > indent ? l.slice(indent) : '');
        this.i++;
        continue;
      }
      if (n < indent) break;
      if (l.charCodeAt(n) === TAB && n === indent) throw new Unsupported('tab in block scalar');
      body.push(l.slice(indent));
      this.i++;
    }
    let end = body.length;
    while (end > 0 && body[end - 1] === '') end--;
    const trailing = body.length - end;
    const content = body.slice(0, end);
    let text = folded ? fold(content) : content.join('\n');
    if (chomp === '-') return text;
    if (content.length === 0) return chomp === '+' ? '\n'.repeat(trailing) : '';
    text += '\n';
    if (chomp === '+') text += '\n'.repeat(trailing);
    return text;
  }

  /** A single- or double-quoted scalar starting on the current line, possibly spanning lines (folded). */
  private quoted(r: string, q: '"' | "'"): string {
    let out = '';
    let line = r;
    let p = 1;
    let first = true;
    for (;;) {
      let pendingBlanks = 0;
      if (!first) {
        // Continuation line: leading white space is dropped.
        while (p < line.length && (line.charCodeAt(p) === SPACE || line.charCodeAt(p) === TAB)) p++;
      }
      first = false;
      let escapedBreak = false;
      while (p < line.length) {
        const ch = line[p]!;
        if (q === "'" && ch === "'") {
          if (line[p + 1] === "'") {
            out += "'";
            p += 2;
            continue;
          }
          return this.afterQuote(out, line.slice(p + 1));
        }
        if (q === '"' && ch === '"') return this.afterQuote(out, line.slice(p + 1));
        if (q === '"' && ch === '\\') {
          const e = line[p + 1];
          if (e === undefined) {
            escapedBreak = true;
            p++;
            break;
          }
          if (e === 'x' || e === 'u' || e === 'U') {
            const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
            const hex = line.slice(p + 2, p + 2 + len);
            if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) throw new YamlError(`bad escape \\${e}${hex} at line ${this.i + 1}`);
            out += String.fromCodePoint(parseInt(hex, 16));
            p += 2 + len;
            continue;
          }
          const rep = ESCAPES[e];
          if (rep === undefined) throw new YamlError(`bad escape \\${e} at line ${this.i + 1}`);
          out += rep;
          p += 2;
          continue;
        }
        out += ch;
        p++;
      }
      // End of line inside the quotes: fold. Trailing white space of the line is dropped (unless escaped).
      if (!escapedBreak) out = out.replace(/[ \t]+$/, '');
      this.i++;
      while (this.i < this.lines.length && /^[ \t]*$/.test(this.lines[this.i]!)) {
        pendingBlanks++;
        this.i++;
      }
      if (this.i >= this.lines.length) throw new YamlError('unterminated quoted scalar');
      if (!escapedBreak) out += pendingBlanks ? '\n'.repeat(pendingBlanks) : ' ';
      line = this.lines[this.i]!;
      p = 0;
    }
  }

  private afterQuote(value: string, tail: string): string {
    if (!/^[ \t]*(#.*)?$/.test(tail)) throw new Unsupported(`text after a quoted scalar at line ${this.i + 1}`);
    this.i++;
    return value;
  }
}

/** Folded block scalar content: single line breaks between text lines become spaces. */
function fold(lines: string[]): string {
  let out = '';
  for (let k = 0; k < lines.length; k++) {
    const l = lines[k]!;
    if (k === 0) {
      out = l;
      continue;
    }
    const prev = lines[k - 1]!;
    const moreIndented = (s: string) => s.startsWith(' ') || s.startsWith('\t');
    if (l === '' || prev === '' || moreIndented(l) || moreIndented(prev)) out += '\n' + l;
    else out += ' ' + l;
  }
  // An empty line between two text lines stands for one line break, not two.
  return out.replace(/([^\n])\n\n(?=[^\n ])/g, '$1\n');
}

/** `key: rest` at the start of `c`: the key and the text after the colon; null when `c` is not a mapping entry. */
function mapKey(c: string): { key: string; rest: string } | null {
  const ch = c.charAt(0);
  if (ch === '"' || ch === "'") {
    let p = 1;
    let key = '';
    for (; p < c.length; p++) {
      const x = c[p]!;
      if (ch === "'" && x === "'") {
        if (c[p + 1] === "'") {
          key += "'";
          p++;
          continue;
        }
        break;
      }
      if (ch === '"' && x === '\\') {
        const e = c[p + 1];
        if (e === 'u' || e === 'x' || e === 'U') {
          const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
          key += String.fromCodePoint(parseInt(c.slice(p + 2, p + 2 + len), 16) || 0);
          p += 1 + len;
          continue;
        }
        key += ESCAPES[e ?? ''] ?? '';
        p++;
        continue;
      }
      if (ch === '"' && x === '"') break;
      key += x;
    }
    if (p >= c.length) return null;
    const m = /^[ \t]*:(?:[ \t]|$)/.exec(c.slice(p + 1));
    if (!m) return null;
    return { key, rest: c.slice(p + 1 + m[0].length) };
  }
  if (ch === '?' && (c.length === 1 || c[1] === ' ')) throw new Unsupported('complex key');
  if (ch === '-' && (c.length === 1 || c[1] === ' ' || c[1] === '\t')) return null;
  if (ch === '[' || ch === '{' || ch === '#' || ch === '|' || ch === '>') return null;
  let at = -1;
  for (let p = 0; p < c.length; p++) {
    const x = c.charCodeAt(p);
    if (x === 58 /* : */ && (p + 1 === c.length || c.charCodeAt(p + 1) === SPACE || c.charCodeAt(p + 1) === TAB)) {
      at = p;
      break;
    }
    if (x === HASH && p > 0 && (c.charCodeAt(p - 1) === SPACE || c.charCodeAt(p - 1) === TAB)) return null;
  }
  if (at < 0) return null;
  const key = c.slice(0, at).trimEnd();
  if (key === '' || /^[&*!]/.test(key)) throw new Unsupported('anchored, aliased or tagged key');
  return { key, rest: c.slice(at + 1) };
}

// ---------- emitter ----------

const RESERVED = /^(?:~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const NUMBERISH = [
  /^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?$/,
  /^[-+]?0x[0-9a-fA-F_]+$/,
  /^[-+]?0o?[0-7_]+$/,
  /^[-+]?0b[01_]+$/,
  /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/,
  /^[-+]?\.(?:inf|Inf|INF)$/,
  /^\.(?:nan|NaN|NAN)$/,
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}/,
];
const charSet = (chars: string) => {
  const t = new Uint8Array(128);
  for (const c of chars) t[c.charCodeAt(0)] = 1;
  return t;
};
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Plain scalars: a first character from PLAIN_FIRST, the rest from PLAIN_REST (no `#`, quotes, brackets…). */
const PLAIN_FIRST = charSet(`${ALNUM}_./`);
const PLAIN_REST = charSet(`${ALNUM} _./:@+=,()~^$%&!?;<>*-`);

function needsQuotes(s: string): boolean {
  const n = s.length;
  if (n === 0) return true;
  // One pass over the characters (indexes are tens of MB of scalars): the plain character set, no `: `.
  const c = s.charCodeAt(0);
  if (c >= 128 || !PLAIN_FIRST[c]) return true;
  for (let i = 1; i < n; i++) {
    const x = s.charCodeAt(i);
    if (x >= 128 || !PLAIN_REST[x] || (x === 32 && s.charCodeAt(i - 1) === 58)) return true;
  }
  const last = s.charCodeAt(n - 1);
  if (last === 32 || last === 58) return true;
  if (n <= 5 && RESERVED.test(s)) return true;
  // Every number (and timestamp) form starts with a digit, a sign or a dot.
  if (!((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46)) return false;
  return NUMBERISH.some((r) => r.test(s));
}

function quote(s: string): string {
  // JSON's escapes are all valid in YAML double-quoted scalars; YAML also wants DEL, C1 controls and BOM escaped.
  return JSON.stringify(s).replace(/[\u007f-\u009f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A mapping key or string as `emitYaml` writes it: plain when that reads back as the same string, else quoted. */
export const emitKey = (s: string): string => (needsQuotes(s) ? quote(s) : s);

function scalar(v: YamlValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'string') return emitKey(v);
  throw new Error('not a scalar');
}

const isMap = (v: YamlValue): v is YamlMap => typeof v === 'object' && v !== null && !Array.isArray(v);

const PADS: string[] = [];
const pad = (n: number) => (PADS[n] ??= ' '.repeat(n));
const hasKeys = (m: YamlMap) => Object.keys(m).length > 0;

/**
 * Block-style YAML as Go's emitters write it (sequences under a key at the key's indentation), strings quoted
 * whenever a plain scalar could read as something else.
 */
export function emitYaml(root: YamlValue): string {
  // One growing string (V8 concatenates by reference) and the few distinct keys rendered once.
  let out = '';
  const keys = new Map<string, string>();
  const key = (k: string) => {
    let q = keys.get(k);
    if (q === undefined) {
      q = `${emitKey(k)}:`;
      if (keys.size < 10_000) keys.set(k, q);
    }
    return q;
  };

  const emitMap = (m: YamlMap, indent: number, firstPrefix: string | undefined) => {
    let first = true;
    for (const k of Object.keys(m)) {
      const v = m[k]!;
      const head = (first && firstPrefix !== undefined ? firstPrefix : pad(indent)) + key(k);
      first = false;
      if (Array.isArray(v)) {
        if (v.length === 0) out += `${head} []\n`;
        else {
          out += `${head}\n`;
          emitSeq(v, indent);
        }
      } else if (isMap(v)) {
        if (!hasKeys(v)) out += `${head} {}\n`;
        else {
          out += `${head}\n`;
          emitMap(v, indent + 2, undefined);
        }
      } else out += `${head} ${scalar(v)}\n`;
    }
    if (first) out += `${firstPrefix ?? pad(indent)}{}\n`;
  };

  const emitSeq = (a: YamlValue[], indent: number) => {
    const p = pad(indent);
    for (const v of a) {
      if (isMap(v) && hasKeys(v)) emitMap(v, indent + 2, `${p}- `);
      else if (Array.isArray(v) && v.length > 0) {
        out += `${p}-\n`;
        emitSeq(v, indent + 2);
      } else if (Array.isArray(v)) out += `${p}- []\n`;
      else if (isMap(v)) out += `${p}- {}\n`;
      else out += `${p}- ${scalar(v)}\n`;
    }
  };

  if (isMap(root)) emitMap(root, 0, undefined);
  else if (Array.isArray(root)) emitSeq(root, 0);
  else out += `${scalar(root)}\n`;
  return out;
}
