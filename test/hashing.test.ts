import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  digestBuffer,
  formatDigest,
  hexToSri,
  integrityToDigests,
  InvalidDigestError,
  parseDigest,
  sriToHex,
  verifyDigests,
} from '../src/hashing/digest.js';
import { createHasher } from '../src/hashing/pool.js';
import { PooledHashStream } from '../src/hashing/stream.js';
import type { MessagePort } from 'node:worker_threads';
import type { HashAlgorithm, Hasher, HashStreamOptions, HeldHash } from '../src/hashing/types.js';

const ALL: HashAlgorithm[] = ['sha256', 'sha512', 'sha1', 'md5'];
const ref = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');

/** Pipe chunks through a hashing stream; collects what comes out. */
async function run(h: Hasher, chunks: Iterable<Buffer>, opts: HashStreamOptions) {
  const s = h.stream(opts);
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), s, new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }));
  return { result: await s.result, out: Buffer.concat(out) };
}

/** Views into `b` (not transferable: they do not own their ArrayBuffer). */
function* slices(b: Buffer, size: number) {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** Fresh Buffers that each own their ArrayBuffer (the transfer path); `b` itself stays intact. */
function* ownedCopies(b: Buffer, size: number) {
  for (let i = 0; i < b.length; i += size) {
    const part = b.subarray(i, i + size);
    const owned = Buffer.allocUnsafeSlow(part.length);
    part.copy(owned);
    yield owned;
  }
}

async function until(cond: () => boolean, what: string, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;

describe('hashing pool streams', () => {
  const h = createHasher({ threads: 2 });
  afterAll(() => h.close());

  it('matches node:crypto for every size and chunking, and passes bytes through unchanged', async () => {
    const cases: Array<[size: number, chunk: number, how: typeof slices]> = [
      [0, 1, slices],
      [1, 1, slices],
      [4097, 1, slices],
      [1_000_003, 65_536, slices],
      [1_000_003, 65_536, ownedCopies],
      [3_000_001, 1_000_000, slices],
      [3_000_001, 300_000, ownedCopies],
      // Chunks the worker hashes in 1 MiB pieces (see worker.mjs, stage), ending mid-piece.
      [5_000_003, 2_500_001, ownedCopies],
      [64 * 1024 * 1024 + 5, 4 * 1024 * 1024, ownedCopies],
    ];
    for (const [size, chunk, how] of cases) {
      const data = randomBytes(size);
      const { result, out } = await run(h, how(data, chunk), { algorithms: ALL });
      const label = `${size} bytes in ${chunk}-byte ${how.name}`;
      expect(result.size, label).toBe(size);
      for (const a of ALL) expect(result.digests[a], `${a}, ${label}`).toBe(ref(a, data));
      expect(out.equals(data), label).toBe(true);
    }
  });

  it('handles pooled Buffers (shared ArrayBuffer) without touching the pool', async () => {
    const parts = Array.from({ length: 300 }, () => Buffer.from(randomBytes(100).toString('hex')));
    expect(parts[0]!.buffer.byteLength).toBeGreaterThan(parts[0]!.length); // really from Buffer's pool
    const data = Buffer.concat(parts);
    const { result, out } = await run(h, parts, { algorithms: ['sha256', 'md5'] });
    expect(result.digests).toEqual({ sha256: ref('sha256', data), md5: ref('md5', data) });
    expect(out.equals(data)).toBe(true);
    expect(Buffer.concat(parts).equals(data)).toBe(true); // the caller's pooled chunks are intact
  });

  it('transfers owned chunks instead of copying them and emits the same memory', async () => {
    const s = h.stream({ algorithms: ['sha256'] });
    const chunk = randomBytes(1024 * 1024);
    const original = Buffer.from(chunk);
    const owned = Buffer.allocUnsafeSlow(chunk.length);
    chunk.copy(owned);
    const emitted = once(s, 'data');
    s.write(owned);
    expect(owned.byteLength).toBe(0); // detached: its memory went to the worker
    const [out] = (await emitted) as [Buffer];
    expect(out.buffer.byteLength).toBe(original.length); // came back as a whole ArrayBuffer, not a copy's slice
    expect(out.equals(original)).toBe(true);
    s.end();
    s.resume();
    expect((await s.result).digests.sha256).toBe(ref('sha256', original));
  });

  it('emits a trickle of small chunks without waiting for more data (batching adds no delay)', async () => {
    const s = h.stream({ algorithms: ['sha256'] });
    for (const text of ['first ', 'second']) {
      const got = once(s, 'data');
      s.write(Buffer.from(text));
      const [out] = (await Promise.race([got, sleep(2000).then(() => [null])])) as [Buffer | null];
      expect(out?.toString()).toBe(text);
    }
    s.end();
    expect((await s.result).digests.sha256).toBe(ref('sha256', Buffer.from('first second')));
  });

  it("passes a stream's first bytes on before the worker answers, and hashes a copy of them", async () => {
    // A worker that receives but never answers: what comes out did not wait for it.
    let port: MessagePort | undefined;
    const atWorker: Buffer[] = [];
    const s = new PooledHashStream(
      (task) => {
        port = task.port;
        port.on('message', (m: unknown) => m instanceof Uint8Array && atWorker.push(Buffer.from(m)));
        return new Promise(() => {});
      },
      { algorithms: ['sha256'] },
    );
    const first = once(s, 'data');
    const head = Buffer.from('first bytes');
    s.write(head);
    const [out] = (await Promise.race([first, sleep(2000).then(() => [null])])) as [Buffer | null];
    expect(out).toBe(head); // the caller's own buffer, at once
    // What follows while the copy is at the worker waits for it, in order.
    const later = vi.fn();
    s.on('data', later);
    s.write(Buffer.from('second'));
    await sleep(200);
    expect(later).not.toHaveBeenCalled();
    expect(atWorker.map(String)).toEqual(['first bytes', 'second']);
    s.destroy();
    port?.close();
  });

  it('stops taking input while nobody reads the output (bounded memory), then finishes correctly', async () => {
    const s = h.stream({ algorithms: ['sha256'] });
    const data = randomBytes(64 * 1024 * 1024);
    for (const c of ownedCopies(data, 1024 * 1024)) s.write(c);
    await sleep(300);
    // At most the in-flight budget (4 MiB) is hashed and waiting; the rest never left the writable buffer.
    expect(s.readableLength).toBeLessThanOrEqual(5 * 1024 * 1024);
    expect(s.writableLength).toBeGreaterThanOrEqual(57 * 1024 * 1024);
    s.end();
    const out: Buffer[] = [];
    for await (const c of s) out.push(c as Buffer);
    expect(Buffer.concat(out).equals(data)).toBe(true);
    expect((await s.result).digests.sha256).toBe(ref('sha256', data));
  });

  it('32 concurrent streams get independent, correct digests', async () => {
    const datas = Array.from({ length: 32 }, (_, i) => randomBytes(200_000 + i * 1001));
    const results = await Promise.all(
      datas.map((d, i) => run(h, i % 2 ? slices(d, 16_384) : ownedCopies(d, 100_000), { algorithms: ['sha256', 'sha1'] })),
    );
    results.forEach((r, i) => {
      expect(r.result.digests).toEqual({ sha256: ref('sha256', datas[i]!), sha1: ref('sha1', datas[i]!) });
      expect(r.out.equals(datas[i]!)).toBe(true);
    });
  });

  it('rejects unknown algorithms and bad resume sizes up front', () => {
    expect(() => h.stream({ algorithms: ['sha3' as HashAlgorithm] })).toThrow(TypeError);
    expect(() => h.stream({ algorithms: ['sha256'], resumeFrom: { state: new Uint8Array(116), size: -1 } })).toThrow(RangeError);
  });

  it('digestBuffer hashes small documents on the calling thread', () => {
    const b = Buffer.from('hello');
    expect(h.digestBuffer(b, ['sha256', 'md5'])).toEqual({ sha256: ref('sha256', b), md5: ref('md5', b) });
    expect(digestBuffer(b, [])).toEqual({});
  });
});

describe('resumable SHA-256', () => {
  const h = createHasher({ threads: 1 });
  afterAll(() => h.close());
  const data = randomBytes(5_000_000);
  const cut = 3_333_333;

  it('continues a saved state in a second stream and in a second pool (another process)', async () => {
    const first = await run(h, slices(data.subarray(0, cut), 100_000), { algorithms: ['sha256', 'md5'], resumable: true });
    expect(first.result.size).toBe(cut);
    expect(first.result.digests).toEqual({ sha256: ref('sha256', data.subarray(0, cut)), md5: ref('md5', data.subarray(0, cut)) });
    // The state as it would be stored in a database and read back by another replica.
    const state = new Uint8Array(Buffer.from(Buffer.from(first.result.sha256State!).toString('base64'), 'base64'));

    const sameA = await run(h, slices(data.subarray(cut), 77_777), { algorithms: ['sha256', 'sha512'], resumeFrom: { state, size: cut } });
    expect(sameA.result.size).toBe(data.length);
    expect(sameA.result.digests.sha256).toBe(ref('sha256', data));
    expect(sameA.result.digests.sha512).toBe(ref('sha512', data.subarray(cut))); // only SHA-256 resumes
    expect(sameA.out.equals(data.subarray(cut))).toBe(true);

    const other = createHasher({ threads: 1 });
    try {
      // Larger than the worker's 1 MiB staging piece: hash-wasm continues across the pieces too.
      const second = await run(other, ownedCopies(data.subarray(cut), 1_500_000), { algorithms: ['sha256'], resumeFrom: { state, size: cut } });
      expect(second.result.size).toBe(data.length);
      expect(second.result.digests.sha256).toBe(ref('sha256', data));
      // And it can be saved again for a third part.
      expect(second.result.sha256State).toBeInstanceOf(Uint8Array);
    } finally {
      await other.close();
    }
  });

  it('an empty resumed part gives the first part digest', async () => {
    const first = await run(h, [Buffer.from('abc')], { algorithms: [], resumable: true });
    expect(first.result.digests).toEqual({ sha256: ref('sha256', Buffer.from('abc')) });
    const second = await run(h, [], { algorithms: ['sha256'], resumeFrom: { state: first.result.sha256State!, size: 3 } });
    expect(second.result).toMatchObject({ size: 3, digests: { sha256: ref('sha256', Buffer.from('abc')) } });
  });

  it('a corrupt saved state fails the stream instead of hanging', async () => {
    const s = h.stream({ algorithms: ['sha256'], resumeFrom: { state: new Uint8Array(10), size: 10 } });
    const failed = pipeline(Readable.from([randomBytes(1000)]), s, new Writable({ write(_c, _e, cb) { cb(); } }));
    await expect(failed).rejects.toThrow(/invalid saved SHA-256 state/);
    await expect(s.result).rejects.toThrow(/invalid saved SHA-256 state/);
    await until(() => h.stats().streams === 0, 'the failed task to be released');
  });
});

describe('held hash states (node:crypto, continued in-process)', () => {
  const h = createHasher({ threads: 2 });
  afterAll(() => h.close());
  const data = randomBytes(4_000_000);
  const cuts = [0, 1_234_567, 2_500_000, 4_000_000];

  it('a held state is continued by the next streams: digests of everything so far, bytes passed through intact', async () => {
    let held: HeldHash | undefined;
    for (let i = 0; i < 3; i++) {
      const part = data.subarray(cuts[i], cuts[i + 1]);
      const r = await run(h, i === 1 ? ownedCopies(part, 1 << 20) : slices(part, 100_000), { algorithms: ['sha256'], hold: true, ...(held ? { continueFrom: held } : {}) });
      expect(r.out.equals(part)).toBe(true);
      expect(r.result.size).toBe(cuts[i + 1]);
      expect(r.result.digests.sha256).toBe(ref('sha256', data.subarray(0, cuts[i + 1])));
      expect(r.result.sha256State).toBeUndefined();
      if (held) expect(held.usable).toBe(false); // used by this stream
      held = r.result.held!;
      expect(held).toMatchObject({ size: cuts[i + 1], usable: true });
    }
    // An empty continuation gives the same digest; a used state cannot be continued twice.
    const empty = await run(h, [], { algorithms: ['sha256'], hold: true, continueFrom: held! });
    expect(empty.result.digests.sha256).toBe(ref('sha256', data));
    expect(() => h.stream({ algorithms: ['sha256'], continueFrom: held! })).toThrow(/no longer usable/);
    const last = empty.result.held!;
    expect(h.stats().streams).toBe(1); // the held task
    last.release();
    expect(last.usable).toBe(false);
    await until(() => h.stats().streams === 0, 'the released task to end');
    expect(() => h.stream({ algorithms: ['sha256'], continueFrom: last })).toThrow(/no longer usable/);
  });

  it('a continuation that fails midway loses the state (its task ends); options that cannot hold are refused', async () => {
    const first = await run(h, [data.subarray(0, 1000)], { algorithms: ['sha256'], hold: true });
    const s = h.stream({ algorithms: ['sha256'], hold: true, continueFrom: first.result.held! });
    s.on('error', () => {});
    s.write(randomBytes(500_000));
    await sleep(5);
    s.destroy(new Error('client gone'));
    await expect(s.result).rejects.toThrow('client gone');
    await until(() => h.stats().streams === 0, 'the task to end');
    expect(() => h.stream({ algorithms: ['sha256'], hold: true, resumable: true })).toThrow(TypeError);
    const again = await run(h, [Buffer.from('x')], { algorithms: ['sha256'], hold: true });
    expect(() => h.stream({ algorithms: ['md5'], continueFrom: again.result.held! })).toThrow(TypeError);
    // A last continuation that does not hold gives its digest and ends the task.
    const last = await run(h, [Buffer.from('y')], { algorithms: ['sha256'], continueFrom: again.result.held! });
    expect(last.result).toEqual({ size: 2, digests: { sha256: ref('sha256', Buffer.from('xy')) } });
    await until(() => h.stats().streams === 0, 'the last task to end');
  });
});

describe('releasing worker tasks', () => {
  it('a destroyed stream rejects its result and frees its slot (also while queued); no ports leak', async () => {
    const before = ports();
    // Two slots in all: a leaked task would make the last streams below wait forever.
    const h = createHasher({ threads: 1, streamsPerThread: 2 });
    try {
      for (let i = 0; i < 5; i++) {
        const s = h.stream({ algorithms: ['sha256'], resumable: i % 2 === 1 });
        s.on('error', () => {});
        s.write(randomBytes(2_000_000));
        await sleep(5);
        s.destroy(new Error('client gone'));
        await expect(s.result).rejects.toThrow('client gone');
      }
      // Fill both slots, queue a third stream, destroy it while queued, then let the others finish.
      const a = h.stream({ algorithms: ['sha256'] });
      const b = h.stream({ algorithms: ['sha256'] });
      const queued = h.stream({ algorithms: ['sha256'] });
      queued.on('error', () => {});
      await until(() => h.stats().streams === 3 && h.stats().queued === 1, 'two running tasks and one queued');
      queued.write(randomBytes(1000));
      queued.destroy();
      await expect(queued.result).rejects.toThrow();
      for (const s of [a, b]) {
        s.resume();
        s.end(Buffer.from('x'));
        expect((await s.result).digests.sha256).toBe(ref('sha256', Buffer.from('x')));
      }
      await until(() => h.stats().streams === 0 && h.stats().queued === 0, 'every task to be released');
      const data = randomBytes(300_000);
      const again = await Promise.all([1, 2].map(() => run(h, slices(data, 50_000), { algorithms: ['sha256'] })));
      for (const r of again) expect(r.result.digests.sha256).toBe(ref('sha256', data));
      expect(h.stats()).toEqual({ threads: 1, streams: 0, queued: 0 });
    } finally {
      await h.close();
    }
    await until(() => ports() <= before, 'every MessagePort to be closed');
  });

  it('closing the hasher fails running streams and refuses new ones', async () => {
    const h = createHasher({ threads: 1 });
    const s = h.stream({ algorithms: ['sha256'] });
    const errored = once(s, 'error');
    s.write(randomBytes(100_000));
    await h.close();
    await errored;
    await expect(s.result).rejects.toThrow();
    expect(() => h.stream({ algorithms: ['sha256'] })).toThrow(/closed/);
  });
});

describe('digest helpers', () => {
  it('parses OCI digests strictly', () => {
    const hex = 'a'.repeat(64);
    expect(parseDigest(`sha256:${hex}`)).toEqual({ algorithm: 'sha256', hex });
    expect(parseDigest(`sha512:${'0'.repeat(128)}`)).toEqual({ algorithm: 'sha512', hex: '0'.repeat(128) });
    expect(parseDigest(`md5:${'f'.repeat(32)}`, ['md5'])).toEqual({ algorithm: 'md5', hex: 'f'.repeat(32) });
    const bad = [
      'sha256:' + 'A'.repeat(64),
      'sha256:abc',
      'sha256:' + hex + '0',
      'md5:' + 'a'.repeat(32), // not allowed by default
      'sha256' + hex,
      '',
      ':' + hex,
      'sha256:' + 'g'.repeat(64),
      ' sha256:' + hex,
      'sha256:' + hex + '\n',
      'constructor:' + hex,
      'sha512:' + hex,
    ];
    for (const s of bad) {
      expect(() => parseDigest(s), s).toThrow(InvalidDigestError);
      expect(() => parseDigest(s), s).toThrow(expect.objectContaining({ status: 400, code: 'DIGEST_INVALID' }));
    }
    expect(() => parseDigest(42 as unknown as string)).toThrow(InvalidDigestError);
    expect(formatDigest('sha256', hex)).toBe(`sha256:${hex}`);
  });

  it('converts npm SRI strings both ways', () => {
    const b = Buffer.from('x');
    const hex = ref('sha512', b);
    const sri = hexToSri('sha512', hex);
    expect(sri).toBe(`sha512-${createHash('sha512').update(b).digest('base64')}`);
    expect(sriToHex(sri)).toEqual({ algorithm: 'sha512', hex });
    expect(sriToHex(`${sri}?opt`)).toEqual({ algorithm: 'sha512', hex });
    expect(sriToHex('sha512-notbase64!')).toBeNull();
    expect(sriToHex(`sha256-${createHash('sha512').update(b).digest('base64')}`)).toBeNull(); // wrong length
    const sha1 = ref('sha1', b);
    expect(integrityToDigests(`${sri} ${hexToSri('sha1', sha1)} md5-AAAA`)).toEqual({ sha512: hex, sha1 });
    expect(() => integrityToDigests('sha512-???')).toThrow(InvalidDigestError);
  });

  it('verifyDigests returns the first mismatching algorithm, or null', () => {
    const b = Buffer.from('x');
    const digests = digestBuffer(b, ['sha512', 'sha256']);
    expect(verifyDigests({ digests }, { sha512: digests.sha512! })).toBeNull();
    expect(verifyDigests({ digests }, { sha256: digests.sha256!.toUpperCase(), sha512: digests.sha512! })).toBeNull();
    expect(verifyDigests({ digests }, { sha256: digests.sha256!, sha512: '0'.repeat(128) })).toBe('sha512');
    expect(verifyDigests({ digests }, { md5: ref('md5', b) })).toBe('md5'); // expected but not computed
    expect(verifyDigests({ digests }, {})).toBeNull();
  });
});
