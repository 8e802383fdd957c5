import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

const A = process.env.ARTIFACTAPI_URL ?? 'http://127.0.0.1:8080';
const B = process.env.ARTIFACTAPI_URL_B;
const auth = { authorization: `Bearer ${process.env.ARTIFACTAPI_TOKEN ?? ''}` };
const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const repo = `e2e-docker-${randomBytes(3).toString('hex')}`;

/** Needs a second replica (ARTIFACTAPI_URL_B) sharing the first one's database, cache and blob store. */
describe.skipIf(!B)('two replicas behave as one', () => {
  it('a chunked docker push split POST→A, PATCH→B, PATCH→A, PUT→B finalises, and both serve it', async () => {
    const created = await fetch(`${A}/api/v2/repositories`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: repo, package_type: 'docker', repo_type: 'local' }) });
    expect(created.status).toBe(201);
    for (let i = 0; i < 100 && (await fetch(`${B}/api/v2/repositories/${repo}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
    const data = randomBytes(6_000_000);
    const N = `/v2/${repo}/team/app`;
    const post = await fetch(`${A}${N}/blobs/uploads/`, { method: 'POST', headers: auth });
    expect(post.status).toBe(202);
    const loc = post.headers.get('location')!;
    const p1 = await fetch(`${B}${loc}`, { method: 'PATCH', headers: { ...auth, 'content-range': '0-3999999' }, body: data.subarray(0, 4_000_000) });
    expect(p1.status).toBe(202);
    const p2 = await fetch(`${A}${loc}`, { method: 'PATCH', headers: { ...auth, 'content-range': '4000000-5499999' }, body: data.subarray(4_000_000, 5_500_000) });
    expect(p2.status).toBe(202);
    const put = await fetch(`${B}${loc}?digest=${digest(data)}`, { method: 'PUT', headers: auth, body: data.subarray(5_500_000) });
    expect(put.status).toBe(201);
    for (const base of [A, B]) {
      const got = Buffer.from(await (await fetch(`${base}${N}/blobs/${digest(data)}`)).arrayBuffer());
      expect(got.equals(data)).toBe(true);
    }
  });
});
