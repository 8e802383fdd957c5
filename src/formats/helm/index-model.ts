import type { ChartMetadata } from './chart.js';
import { compareChartVersions } from './semver.js';
import { emitYaml, type YamlMap, type YamlValue } from './yaml.js';

/** Chart versions by chart name, each list newest first: the `entries` of index.yaml. */
export type IndexEntries = Map<string, YamlMap[]>;

export const INDEX_TYPE = 'application/x-yaml';
export const JSON_TYPE = 'application/json';

export const isMap = (v: YamlValue | undefined): v is YamlMap => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One index entry (Helm's ChartVersion): the chart's metadata plus created, digest and urls; keys sorted as Helm writes them. */
export function versionRecord(meta: ChartMetadata, created: Date, digest: string, url: string): YamlMap {
  const rec: Record<string, YamlValue> = { ...(meta as unknown as Record<string, YamlValue>), created: created.toISOString(), digest, urls: [url] };
  const out: YamlMap = {};
  for (const k of Object.keys(rec).sort()) if (rec[k] !== undefined) out[k] = rec[k]!;
  return out;
}

/** Name and version of an index entry, when it has them. */
export function nameVersion(rec: YamlValue, fallbackName: string): { name: string; version: string } | null {
  if (!isMap(rec)) return null;
  const name = typeof rec.name === 'string' ? rec.name : fallbackName;
  const version = rec.version;
  if (typeof version !== 'string' || version === '') return null;
  return { name, version };
}

/** Chart versions collected from several indexes by index key: the first to list a name+version wins. */
export class FirstWins<T> {
  readonly lists = new Map<string, T[]>();
  private readonly seen = new Set<string>();

  add(key: string, name: string, version: string, item: T): void {
    const id = `${name}\0${version}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    let l = this.lists.get(key);
    if (!l) this.lists.set(key, (l = []));
    l.push(item);
  }
}

export function sortNewestFirst(list: YamlMap[]): YamlMap[] {
  return list.sort((a, b) => compareChartVersions(String(b.version), String(a.version)));
}

/** index.yaml: apiVersion v1, entries by chart name (sorted), `generated` from the content (never the clock). */
export function renderIndex(entries: IndexEntries, generated: string, extra: YamlMap = {}): Buffer {
  const e: YamlMap = {};
  for (const name of [...entries.keys()].sort()) e[name] = sortNewestFirst(entries.get(name)!);
  return Buffer.from(emitYaml({ apiVersion: 'v1', entries: e, generated, ...extra }));
}

/** The newest of some timestamps (ISO 8601 or RFC 3339 strings), or the epoch. */
export function newest(times: Iterable<string>): string {
  let best = 0;
  let text = '1970-01-01T00:00:00Z';
  for (const t of times) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms) && ms > best) {
      best = ms;
      text = t;
    }
  }
  return text;
}
