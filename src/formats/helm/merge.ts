import { HttpError } from '../../errors.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import type { MemberDocument } from '../types.js';
import { mergeIndexText } from './index-text.js';
import { FirstWins, INDEX_TYPE, isMap, JSON_TYPE, nameVersion, newest, renderIndex, sortNewestFirst } from './index-model.js';
import { parseHelmPath } from './paths.js';
import { parseYaml, YamlError, type YamlMap, type YamlValue } from './yaml.js';

function memberIndex(d: MemberDocument): YamlMap {
  let doc: YamlValue;
  try {
    doc = parseYaml(d.body.toString('utf8'));
  } catch (err) {
    if (err instanceof YamlError) throw new HttpError(502, 'UPSTREAM_ERROR', `member ${d.member} has an invalid index.yaml: ${err.message}`);
    throw err;
  }
  if (!isMap(doc) || !isMap(doc.entries)) throw new HttpError(502, 'UPSTREAM_ERROR', `member ${d.member} has an index.yaml without entries`);
  return doc;
}

/**
 * The members' index.yaml merged: every chart version of every member, the first member listing a name+version wins.
 * Member URLs are relative (`charts/…`), so they resolve against the virtual repository, which serves each chart
 * from the first member that has it. The virtual repository caches the result by the members' bytes.
 */
function mergeIndexes(docs: MemberDocument[]): Buffer {
  const fast = mergeIndexText(docs.map((d) => d.body));
  if (fast) return fast;
  const entries = new FirstWins<YamlMap>();
  const times: string[] = [];
  for (const d of docs) {
    const doc = memberIndex(d);
    if (typeof doc.generated === 'string') times.push(doc.generated);
    for (const [key, list] of Object.entries(doc.entries as YamlMap)) {
      if (!Array.isArray(list)) continue;
      for (const rec of list) {
        const nv = nameVersion(rec, key);
        if (nv && isMap(rec)) entries.add(key, nv.name, nv.version, rec);
      }
    }
  }
  return renderIndex(entries.lists, newest(times));
}

function parseJson(d: MemberDocument): unknown {
  try {
    return JSON.parse(d.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** ChartMuseum API documents of the members, merged the same way (first member wins per name+version). */
function mergeApi(path: string, docs: MemberDocument[]): Buffer {
  const p = parseHelmPath(path);
  const json = docs.filter((d) => d.contentType?.startsWith(JSON_TYPE)).map(parseJson);
  if (p.kind === 'api-version') return Buffer.from(JSON.stringify(json.find((j) => j && typeof j === 'object') ?? null));
  const charts = new FirstWins<YamlMap>();
  const lists = charts.lists;
  const add = (name: string, versions: unknown) => {
    if (!Array.isArray(versions)) return;
    for (const v of versions as YamlValue[]) {
      const nv = nameVersion(v, name);
      if (nv && isMap(v)) charts.add(name, name, nv.version, v);
    }
  };
  for (const j of json) {
    if (p.kind === 'api-chart') add(p.name, j);
    else if (j && typeof j === 'object' && !Array.isArray(j)) for (const [name, versions] of Object.entries(j)) add(name, versions);
  }
  if (p.kind === 'api-chart') return Buffer.from(JSON.stringify(sortNewestFirst(lists.get(p.name) ?? [])));
  const all: Record<string, YamlMap[]> = {};
  for (const name of [...lists.keys()].sort()) all[name] = sortNewestFirst(lists.get(name)!);
  return Buffer.from(JSON.stringify(all));
}

export function mergeable(path: string): boolean {
  const k = parseHelmPath(path).kind;
  return k === 'index' || k === 'api-list' || k === 'api-chart' || k === 'api-version';
}

export async function merge(path: string, docs: MemberDocument[]): Promise<Servable> {
  if (parseHelmPath(path).kind === 'index') return bufferServable(mergeIndexes(docs), INDEX_TYPE, 'local');
  return bufferServable(mergeApi(path, docs), JSON_TYPE, 'local');
}
