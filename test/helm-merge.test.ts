import { describe, expect, it } from 'vitest';
import type { ChartMetadata } from '../src/formats/helm/chart.js';
import { mergeIndexText } from '../src/formats/helm/index-text.js';
import { FirstWins, isMap, nameVersion, newest, renderIndex, versionRecord } from '../src/formats/helm/index-model.js';
import { parseYaml, type YamlMap } from '../src/formats/helm/yaml.js';
import { rng } from './helpers/random.js';

/** The merge by meaning: parse every member, first member wins a name+version, emit again. */
function mergeParsed(bodies: Buffer[]): Buffer {
  const entries = new FirstWins<YamlMap>();
  const times: string[] = [];
  for (const b of bodies) {
    const doc = parseYaml(b.toString('utf8')) as YamlMap;
    if (typeof doc.generated === 'string') times.push(doc.generated);
    for (const [key, list] of Object.entries(isMap(doc.entries) ? doc.entries : {})) {
      if (!Array.isArray(list)) continue;
      for (const rec of list) {
        const nv = nameVersion(rec, key);
        if (nv && isMap(rec)) entries.add(key, nv.name, nv.version, rec);
      }
    }
  }
  return renderIndex(entries.lists, newest(times));
}


const awkward = ['plain', 'with: colon', "it's", '"quoted"', '#hash', 'yes', '1.0', '', ' lead', 'ünï', 'a\nb', '- dash', '{brace}', 'null'];

/** A member index as this server emits it (the only form the text merge takes), from random charts. */
function member(r: () => number, charts: string[], generated: string): Buffer {
  const entries = new Map<string, YamlMap[]>();
  for (const name of charts) {
    const list: YamlMap[] = [];
    for (let v = 0; v < 1 + Math.floor(r() * 4); v++) {
      const pick = () => awkward[Math.floor(r() * awkward.length)]!;
      const meta: ChartMetadata = {
        name,
        version: `${Math.floor(r() * 3)}.${Math.floor(r() * 12)}.${Math.floor(r() * 3)}${r() < 0.2 ? '-rc.1' : ''}`,
        apiVersion: 'v2',
        description: pick(),
        ...(r() < 0.5 ? { appVersion: pick() } : {}),
        ...(r() < 0.4 ? { keywords: [pick(), pick()] } : {}),
        ...(r() < 0.3 ? { maintainers: [{ name: pick(), email: 'x@example.com' }] } : {}),
        ...(r() < 0.3 ? { dependencies: [{ name: 'dep', version: '1.x', repository: 'https://charts.example.com' }] } : {}),
        ...(r() < 0.3 ? { annotations: { [pick() || 'k']: pick() } } : {}),
      };
      list.push(versionRecord(meta, new Date(1_700_000_000_000 + Math.floor(r() * 1e9)), 'a'.repeat(64), `charts/${name}-${meta.version}.tgz`));
    }
    entries.set(name, list);
  }
  return renderIndex(entries, generated);
}

describe('helm virtual index merge over text', () => {
  it('gives the same bytes as the merge by meaning (random members, overlapping charts and versions)', () => {
    const r = rng(7);
    const names = ['web', 'db', 'cache', 'a-b', 'zeta'];
    for (let i = 0; i < 300; i++) {
      const members = Array.from({ length: 1 + Math.floor(r() * 3) }, (_, m) =>
        member(r, names.filter(() => r() < 0.6), new Date(1_700_000_000_000 + m * 1000 + i).toISOString()),
      );
      const fast = mergeIndexText(members);
      expect(fast, `case ${i}: the text merge refused an index this server emitted`).not.toBeNull();
      expect(fast!.toString(), `case ${i}`).toBe(mergeParsed(members).toString());
    }
  });

  it('leaves documents in any other form to the merge by meaning', () => {
    const foreign = Buffer.from('apiVersion: v1\nentries:\n  web:\n  # a comment\n  - name: web\n    version: 1.0.0\n    urls: [a.tgz]\ngenerated: "2024-01-01T00:00:00Z"\n');
    expect(mergeIndexText([foreign])).toBeNull();
  });
});
