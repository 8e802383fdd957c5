import { describe, expect, it } from 'vitest';
import { mergePackuments, renderPackument, storedPackument } from '../src/formats/npm/packument-stream.js';
import { JsonScan, JsonSyntaxError } from '../src/formats/shared/json-scan.js';
import { rng } from './helpers/random.js';

/** Accepts exactly when JSON.parse does. */
function accepts(text: string): boolean {
  try {
    new JsonScan(Buffer.from(text)).root();
    return true;
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    return false;
  }
}
function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}


function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 3 ? 4 : 6));
  switch (k) {
    case 0:
      return r() < 0.5 ? null : r() < 0.5;
    case 1:
      return [0, -1, 1.5, -2.25e-7, 1e21, 123456789][Math.floor(r() * 6)];
    case 2:
      return ['', 'a"b', 'back\\slash', 'tab\tnew\nline', 'ünï©ødé 😀', '\u0001\u001f', '</script>'][Math.floor(r() * 7)];
    case 3:
      return 'plain';
    case 4:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}${r() < 0.2 ? '"\\' : ''}`, randomValue(r, depth + 1)]));
  }
}

describe('JsonScan', () => {
  it('accepts what JSON.parse accepts and refuses what it refuses (differential, mutated documents)', () => {
    const r = rng(42);
    const alphabet = ' \t\n{}[]":,\\-+.0123456789eEtruefalsnxu';
    let valid = 0;
    for (let i = 0; i < 3000; i++) {
      const text = JSON.stringify(randomValue(r), null, r() < 0.3 ? 1 : undefined) ?? 'null';
      const chars = [...text];
      const edits = Math.floor(r() * 3);
      for (let e = 0; e < edits && chars.length > 0; e++) {
        const at = Math.floor(r() * chars.length);
        const op = r();
        const c = alphabet[Math.floor(r() * alphabet.length)]!;
        if (op < 0.33) chars.splice(at, 1);
        else if (op < 0.66) chars.splice(at, 0, c);
        else chars[at] = c;
      }
      const mutated = chars.join('');
      expect(accepts(mutated), `seed 42, case ${i}: ${JSON.stringify(mutated)}`).toBe(parses(mutated));
      if (parses(mutated)) valid++;
    }
    // Both outcomes must be well represented for the comparison to mean anything.
    expect(valid).toBeGreaterThan(500);
    expect(valid).toBeLessThan(2500);
  });

  it('refuses the classic near-misses', () => {
    for (const bad of ['', '{', '{"a":1,}', '[1,]', '01', '1.', '.5', '+1', '"\\x"', '"\u0001"', 'nul', 'truee', '{"a" 1}', '{} {}', '"\\u12G4"', '[' .repeat(2000) + ']'.repeat(2000)]) {
      expect(accepts(bad), JSON.stringify(bad)).toBe(false);
    }
    expect(() => new JsonScan(Buffer.from([0x22, 0xff, 0x22]))).toThrow(JsonSyntaxError);
  });

  it('lists object members with their decoded keys and exact value ranges', () => {
    const text = '{ "a" : [1, {"x":"}"}] , "b\\"q": "s" ,"c":null }';
    const s = new JsonScan(Buffer.from(text));
    const root = s.root();
    const got = [...s.entries(root.start)].map((e) => [e.key, s.raw(e.start, e.end).toString()]);
    expect(got).toEqual([
      ['a', '[1, {"x":"}"}]'],
      ['b"q', '"s"'],
      ['c', 'null'],
    ]);
  });
});

describe('npm packuments rewritten as bytes', () => {
  const upstream = {
    _id: 'demo',
    name: 'wrong-name',
    description: 'x'.repeat(100),
    versions: {
      '1.0.0': { name: 'demo', version: '1.0.0', readme: 'long', scripts: { test: 'x' }, dependencies: { a: '^1' }, dist: { tarball: 'https://up.example/demo/-/demo-1.0.0.tgz', integrity: 'sha512-AAA', shasum: 'b'.repeat(40) } },
      '2.0.0-beta.1': { name: 'demo', version: '2.0.0-beta.1', dist: { tarball: '/demo/-/demo-2.0.0-beta.1.tgz', shasum: 'c'.repeat(40) }, deprecated: 'no' },
      broken: null,
    },
    time: { modified: '2026-01-01T00:00:00.000Z', '1.0.0': '2025-01-01T00:00:00.000Z' },
  };

  it('stores tarballs by repository path, names the package as requested, remembers the upstream digests', () => {
    const { body, tarballs } = storedPackument(Buffer.from(JSON.stringify(upstream)), 'demo', 'https://up.example/demo', 'doc');
    const doc = JSON.parse(body.toString());
    expect(doc.name).toBe('demo');
    expect(doc['dist-tags']).toEqual({});
    expect(doc.versions['1.0.0'].dist.tarball).toBe('demo/-/demo-1.0.0.tgz');
    expect(doc.versions['1.0.0'].readme).toBe('long');
    expect(doc.versions.broken).toBeNull();
    expect(tarballs).toEqual({
      'demo-1.0.0.tgz': { url: 'https://up.example/demo/-/demo-1.0.0.tgz', integrity: 'sha512-AAA', shasum: 'b'.repeat(40) },
      'demo-2.0.0-beta.1.tgz': { url: 'https://up.example/demo/-/demo-2.0.0-beta.1.tgz', shasum: 'c'.repeat(40) },
    });
  });

  it('renders full and abbreviated documents with absolute tarball URLs', () => {
    const stored = storedPackument(Buffer.from(JSON.stringify(upstream)), 'demo', 'https://up.example/demo', 'doc').body;
    const full = JSON.parse(renderPackument(stored, 'http://me/npm', false, 'doc').toString());
    expect(full.versions['1.0.0']).toMatchObject({ readme: 'long', dist: { tarball: 'http://me/npm/demo/-/demo-1.0.0.tgz', integrity: 'sha512-AAA' } });
    expect(full.description).toBe(upstream.description);
    const abbr = JSON.parse(renderPackument(stored, 'http://me/npm', true, 'doc').toString());
    expect(Object.keys(abbr)).toEqual(['name', 'modified', 'dist-tags', 'versions']);
    expect(abbr.modified).toBe('2026-01-01T00:00:00.000Z');
    expect(abbr.versions['1.0.0']).toEqual({ name: 'demo', version: '1.0.0', dependencies: { a: '^1' }, dist: { tarball: 'http://me/npm/demo/-/demo-1.0.0.tgz', integrity: 'sha512-AAA', shasum: 'b'.repeat(40) } });
    expect(abbr.versions['2.0.0-beta.1'].deprecated).toBe('no');
  });

  it('a repeated key counts once, with its last value (as JSON.parse reads it)', () => {
    const text = '{"name":"d","versions":{"1.0.0":{"dist":{"tarball":"a.tgz"}}},"versions":{"2.0.0":{"dist":{"tarball":"x/-/d-2.0.0.tgz"}}}}';
    const abbr = JSON.parse(renderPackument(Buffer.from(text), 'http://me/r', true, 'doc').toString());
    expect(Object.keys(abbr.versions)).toEqual(['2.0.0']);
  });

  it('refuses what is not a packument with a 502', () => {
    for (const bad of ['{"versions":[]}', '[]', '{"name":"x"}', '{"versions":{}', 'garbage']) {
      expect(() => renderPackument(Buffer.from(bad), 'http://me', true, 'doc')).toThrow(expect.objectContaining({ status: 502 }));
    }
  });

  it('merges members: first member wins a version, dist-tags only for versions present', () => {
    const a = { name: 'demo', 'dist-tags': { latest: '1.0.0', next: '9.9.9' }, versions: { '1.0.0': { v: 'from-a' } }, time: { '1.0.0': 'ta' } };
    const b = { name: 'demo', 'dist-tags': { latest: '2.0.0', beta: '2.0.0' }, versions: { '1.0.0': { v: 'from-b' }, '2.0.0': { v: 'b2' } }, time: { '1.0.0': 'tb', '2.0.0': 'tb2' } };
    const merged = JSON.parse(mergePackuments('demo', [a, b].map((d, i) => ({ body: Buffer.from(JSON.stringify(d)), where: `m${i}` }))).toString());
    expect(merged).toEqual({
      _id: 'demo',
      name: 'demo',
      'dist-tags': { latest: '1.0.0', beta: '2.0.0' },
      versions: { '1.0.0': { v: 'from-a' }, '2.0.0': { v: 'b2' } },
      time: { '1.0.0': 'ta', '2.0.0': 'tb2' },
    });
  });
});
