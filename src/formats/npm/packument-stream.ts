import { badGateway } from '../../errors.js';
import { type JsonEntry, JsonScan, JsonSyntaxError, JsonWriter } from '../shared/json-scan.js';
import { fileOf } from './packument.js';
import { tarballPath } from './paths.js';

/**
 * Packument rewriting without decoding the document: version manifests are copied as byte ranges and only each
 * version's small `dist` object is decoded and re-encoded. A 20 MB packument costs its output, not the several
 * times its size a JSON.parse + JSON.stringify round trip holds in heap.
 */

/** What `npm install` reads from the abbreviated form (npm's registry API: "corgi" documents). */
const ABBREVIATED_FIELDS = new Set([
  'name', 'version', 'dependencies', 'optionalDependencies', 'devDependencies', 'bundleDependencies', 'bundledDependencies',
  'peerDependencies', 'peerDependenciesMeta', 'bin', 'directories', 'dist', 'engines', '_hasShrinkwrap', 'hasInstallScript',
  'cpu', 'os', 'deprecated', 'funding', 'license', 'libc',
]);

type Dist = { tarball?: unknown; integrity?: unknown; shasum?: unknown; [k: string]: unknown };

/** Members of an object as JSON.parse sees them: a repeated key keeps its first position and its last value. */
function members(s: JsonScan, start: number): Map<string, JsonEntry> {
  const out = new Map<string, JsonEntry>();
  for (const e of s.entries(start)) out.set(e.key, e);
  return out;
}

interface Scanned {
  s: JsonScan;
  top: Map<string, JsonEntry>;
  versions: JsonEntry;
}

function scan(body: Buffer, where: string): Scanned {
  let s: JsonScan;
  let top: Map<string, JsonEntry>;
  try {
    s = new JsonScan(body);
    const root = s.root();
    if (s.kind(root.start) !== '{') throw badGateway(`${where} is not a packument`);
    top = members(s, root.start);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw badGateway(`${where} is not valid JSON (${err.message})`);
    throw err;
  }
  const versions = top.get('versions');
  if (!versions || s.kind(versions.start) !== '{') throw badGateway(`${where} is not a packument`);
  return { s, top, versions };
}

/**
 * Write the versions object, each manifest copied but for `dist` (given to `fix`, which returns the replacement)
 * and, when `fields` is set, only those members.
 */
function writeVersions(w: JsonWriter, { s, versions }: Scanned, fix: (dist: Dist) => Dist, fields?: ReadonlySet<string>): void {
  w.text('{');
  let firstVersion = true;
  for (const [v, m] of members(s, versions.start)) {
    w.key(v, firstVersion);
    firstVersion = false;
    if (s.kind(m.start) !== '{') {
      w.raw(s.raw(m.start, m.end));
      continue;
    }
    w.text('{');
    let first = true;
    for (const [k, e] of members(s, m.start)) {
      if (fields && !fields.has(k)) continue;
      w.key(k, first);
      first = false;
      if (k === 'dist' && s.kind(e.start) === '{') w.value(fix(s.parse<Dist>(e.start, e.end)));
      else w.raw(s.raw(e.start, e.end));
    }
    w.text('}');
  }
  w.text('}');
}

/** Where upstream has a tarball and what its bytes must hash to. */
export interface UpstreamTarball {
  url: string;
  integrity?: string;
  shasum?: string;
}

/**
 * An upstream packument in the stored form: `name` as requested, tarballs named by their path in this repository.
 * Returns where upstream has each tarball (by file name) and the digests its packument promised.
 */
export function storedPackument(body: Buffer, name: string, base: string, where: string): { body: Buffer; tarballs: Record<string, UpstreamTarball> } {
  const doc = scan(body, where);
  const tarballs: Record<string, UpstreamTarball> = {};
  const relative = (dist: Dist): Dist => {
    if (typeof dist.tarball !== 'string') return dist;
    const file = fileOf(dist.tarball);
    let url: string;
    try {
      url = new URL(dist.tarball, base).href;
    } catch {
      return dist;
    }
    const t: UpstreamTarball = { url };
    if (typeof dist.integrity === 'string') t.integrity = dist.integrity;
    if (typeof dist.shasum === 'string') t.shasum = dist.shasum;
    tarballs[file] = t;
    return { ...dist, tarball: tarballPath(name, file) };
  };
  const w = new JsonWriter().text('{').key('name', true).value(name);
  if (!doc.top.has('dist-tags')) w.key('dist-tags', false).text('{}');
  for (const [k, e] of doc.top) {
    if (k === 'name') continue;
    w.key(k, false);
    if (k === 'versions') writeVersions(w, doc, relative);
    else w.raw(doc.s.raw(e.start, e.end));
  }
  return { body: w.text('}').toBuffer(), tarballs };
}

/** `modified` of a packument: its own, or the one in `time`. */
function modifiedOf({ s, top }: Scanned): Buffer | undefined {
  const own = top.get('modified');
  if (own) return s.raw(own.start, own.end);
  const time = top.get('time');
  if (!time || s.kind(time.start) !== '{') return undefined;
  const m = members(s, time.start).get('modified');
  return m && s.raw(m.start, m.end);
}

/** The document a client gets from a stored packument: tarball URLs through `repoUrl`, full or abbreviated. */
export function renderPackument(body: Buffer, repoUrl: string, abbreviated: boolean, where: string): Buffer {
  const doc = scan(body, where);
  const { s, top } = doc;
  const absolute = (dist: Dist): Dist =>
    typeof dist.tarball === 'string' && !/^https?:\/\//.test(dist.tarball) ? { ...dist, tarball: `${repoUrl}/${dist.tarball}` } : dist;
  const w = new JsonWriter().text('{');
  if (!abbreviated) {
    let first = true;
    for (const [k, e] of top) {
      w.key(k, first);
      first = false;
      if (k === 'versions') writeVersions(w, doc, absolute);
      else w.raw(s.raw(e.start, e.end));
    }
    return w.text('}').toBuffer();
  }
  const name = top.get('name');
  const tags = top.get('dist-tags');
  const modified = modifiedOf(doc);
  w.key('name', true).raw(name ? s.raw(name.start, name.end) : Buffer.from('null'));
  if (modified) w.key('modified', false).raw(modified);
  w.key('dist-tags', false).raw(tags ? s.raw(tags.start, tags.end) : Buffer.from('{}'));
  w.key('versions', false);
  writeVersions(w, doc, absolute, ABBREVIATED_FIELDS);
  return w.text('}').toBuffer();
}

/**
 * A virtual's packument over its members' stored ones: versions union (first member wins a version, copied as
 * bytes), each dist-tag from the first member that has it (and only if the merged document has its version),
 * `time` entries likewise.
 */
export function mergePackuments(name: string, docs: Array<{ body: Buffer; where: string }>): Buffer {
  const versions = new Map<string, Buffer>();
  const tags: Record<string, unknown> = {};
  const time: Record<string, unknown> = {};
  for (const d of docs) {
    const doc = scan(d.body, d.where);
    const { s, top } = doc;
    for (const [v, m] of members(s, doc.versions.start)) if (!versions.has(v)) versions.set(v, s.raw(m.start, m.end));
    const t = top.get('dist-tags');
    if (t && s.kind(t.start) === '{') for (const [k, v] of Object.entries(s.parse<Record<string, unknown>>(t.start, t.end))) tags[k] ??= v;
    const tm = top.get('time');
    if (tm && s.kind(tm.start) === '{') for (const [k, v] of Object.entries(s.parse<Record<string, unknown>>(tm.start, tm.end))) time[k] ??= v;
  }
  const kept = Object.fromEntries(Object.entries(tags).filter(([, v]) => typeof v === 'string' && versions.has(v)));
  const w = new JsonWriter().text('{').key('_id', true).value(name).key('name', false).value(name).key('dist-tags', false).value(kept).key('versions', false).text('{');
  let first = true;
  for (const [v, raw] of versions) {
    w.key(v, first).raw(raw);
    first = false;
  }
  return w.text('}').key('time', false).value(time).text('}').toBuffer();
}
