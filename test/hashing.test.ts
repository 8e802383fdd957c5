import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDigest, sriToHex, hexToSri, verifyDigests } from '../src/hashing/digest.js';
import { createHasher } from '../src/hashing/pool.js';
import type { Hasher, HashStreamOptions } from '../src/hashing/types.js';

const ref = (alg: string, b: Buffer) => createHash(alg).update(b).digest('hex');

async function run(h: Hasher, chunks: Iterable<Buffer>, opts: HashStreamOptions) {
  const s = h.stream(opts);
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), s, new Writable({ write(c, _e, cb) { out.push(c); cb(); } }));
  return { result: await s.result, out: Buffer.concat(out) };
}

function* slices(b: Buffer, size: number) {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

describe('hashing pool', () => {
  const h = createHasher({ threads: 2 });
  afterAll(() => h.close());

  it('matches node:crypto for every size and chunking, and passes bytes through unchanged', async () => {
    const cases: Array<[number, number]> = [
      [0, 1],
      [1, 1],
      [4097, 1],
      [1_000_003, 65_536],
      [3_000_000, 1_000_000],
      [64 * 1024 * 1024 + 5, 4 * 1024 * 1024],
    ];
    for (const [size, chunk] of cases) {
      const data = randomBytes(size);
      const { result, out } = await run(h, slices(data, chunk), { algorithms: ['sha256', 'sha512', 'sha1', 'md5'] });
      expect(result.size).toBe(size);
      for (const a of ['sha256', 'sha512', 'sha1', 'md5'] as const) expect(result.digests[a], `${a} ${size}/${chunk}`).toBe(ref(a, data));
      expect(out.equals(data)).toBe(true);
    }
  });

  it('handles pooled (non-transferable) Buffers', async () => {
    const parts = Array.from({ length: 200 }, () => Buffer.from(randomBytes(100).toString('hex'))); // pool-allocated
    const data = Buffer.concat(parts);
    const { result, out } = await run(h, parts, { algorithms: ['sha256'] });
    expect(result.digests.sha256).toBe(ref('sha256', data));
    expect(out.equals(data)).toBe(true);
  });

  it('resumes a SHA-256 from a saved state, also in another pool (another process)', async () => {
    const data = randomBytes(5_000_000);
    const first = await run(h, slices(data.subarray(0, 3_333_333), 100_000), { algorithms: ['sha256'], resumable: true });
    expect(first.result.sha256State).toBeInstanceOf(Uint8Array);
    expect(first.result.digests.sha256).toBe(ref('sha256', data.subarray(0, 3_333_333)));
    const other = createHasher({ threads: 1 });
    const second = await run(other, slices(data.subarray(3_333_333), 77_777), {
      algorithms: ['sha256'],
      resumeFrom: { state: first.result.sha256State!, size: first.result.size },
    });
    await other.close();
    expect(second.result.size).toBe(data.length);
    expect(second.result.digests.sha256).toBe(ref('sha256', data));
  });

  it('32 concurrent streams get independent, correct digests', async () => {
    const datas = Array.from({ length: 32 }, (_, i) => randomBytes(200_000 + i * 1000));
    const results = await Promise.all(datas.map((d) => run(h, slices(d, 16_384), { algorithms: ['sha256'] })));
    results.forEach((r, i) => expect(r.result.digests.sha256).toBe(ref('sha256', datas[i]!)));
  });

  it('a destroyed stream rejects its result and leaves the pool usable', async () => {
    const s = h.stream({ algorithms: ['sha256'] });
    s.on('error', () => {});
    s.write(randomBytes(1_000_000));
    s.destroy(new Error('client gone'));
    await expect(s.result).rejects.toThrow();
    const data = randomBytes(1000);
    expect((await run(h, [data], { algorithms: ['sha256'] })).result.digests.sha256).toBe(ref('sha256', data));
  });

  it('digestBuffer hashes small documents on the calling thread', () => {
    const b = Buffer.from('hello');
    expect(h.digestBuffer(b, ['sha256', 'md5'])).toEqual({ sha256: ref('sha256', b), md5: ref('md5', b) });
  });
});

describe('digest helpers', () => {
  it('parses OCI digests strictly', () => {
    const hex = 'a'.repeat(64);
    expect(parseDigest(`sha256:${hex}`)).toEqual({ algorithm: 'sha256', hex });
    for (const bad of ['sha256:' + 'A'.repeat(64), 'sha256:abc', 'md5:' + 'a'.repeat(32), 'sha256' + hex, '', 'sha256:' + 'g'.repeat(64)]) {
      expect(() => parseDigest(bad)).toThrow(expect.objectContaining({ status: 400, code: 'DIGEST_INVALID' }));
    }
  });

  it('converts npm SRI strings both ways and verifies digests', () => {
    const b = Buffer.from('x');
    const hex = ref('sha512', b);
    const sri = hexToSri('sha512', hex);
    expect(sri).toBe(`sha512-${createHash('sha512').update(b).digest('base64')}`);
    expect(sriToHex(sri)).toEqual({ algorithm: 'sha512', hex });
    expect(sriToHex('sha512-notbase64!')).toBeNull();
    expect(verifyDigests({ digests: { sha512: hex } }, { sha512: hex })).toBeNull();
    expect(verifyDigests({ digests: { sha512: hex } }, { sha512: '0'.repeat(128) })).toBe('sha512');
  });
});
