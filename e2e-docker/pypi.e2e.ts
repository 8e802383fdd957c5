import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const URL_ = process.env.ARTIFACTAPI_URL ?? 'http://127.0.0.1:8080';
const TOKEN = process.env.ARTIFACTAPI_TOKEN ?? '';
const UPSTREAM = process.env.E2E_UPSTREAM_URL ?? 'http://127.0.0.1:8081';
const auth = { authorization: `Bearer ${TOKEN}` };
const run = randomBytes(3).toString('hex');
const name = (n: string) => `e2e-py-${n}-${run}`;
const WHEEL = 'e2e_demo-1.0-py3-none-any.whl';
const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function create(def: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${URL_}/api/v2/repositories`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(def) });
  expect(res.status, await res.text()).toBe(201);
}

describe('pypi repositories, black box', () => {
  it('remote: the page is rewritten into the repo, the wheel comes from the upstream, then from the cache', async () => {
    const fixture = await readFile(join(__dirname, 'fixtures', 'pypi', 'files', WHEEL));
    await create({ name: name('remote'), package_type: 'pypi', repo_type: 'remote', upstream: { url: `${UPSTREAM}/pypi/simple` } });
    const page = await fetch(`${URL_}/${name('remote')}/simple/e2e-demo/`, { headers: { accept: JSON_TYPE } });
    expect(page.status).toBe(200);
    const doc = (await page.json()) as { files: Array<{ filename: string; url: string; hashes: { sha256: string } }> };
    expect(doc.files[0]!.hashes.sha256).toBe(sha(fixture));
    const fileUrl = new URL(doc.files[0]!.url, `${URL_}/${name('remote')}/simple/e2e-demo/`).href;
    expect(fileUrl.startsWith(`${URL_}/${name('remote')}/`)).toBe(true);
    const first = await fetch(fileUrl);
    expect(first.headers.get('x-artifact-source')).toBe('remote');
    expect(sha(Buffer.from(await first.arrayBuffer()))).toBe(sha(fixture));
    const second = await fetch(fileUrl);
    expect(second.headers.get('x-artifact-source')).toBe('cache');
    expect(sha(Buffer.from(await second.arrayBuffer()))).toBe(sha(fixture));
  });

  it('local: the upload API twine speaks, then a generated page; virtual merges both members', async () => {
    const wheel = await readFile(join(__dirname, 'fixtures', 'pypi', 'files', WHEEL));
    await create({ name: name('local'), package_type: 'pypi', repo_type: 'local' });
    const form = new FormData();
    form.set(':action', 'file_upload');
    form.set('name', 'e2e-demo');
    form.set('version', '1.0');
    form.set('sha256_digest', sha(wheel));
    form.set('content', new Blob([wheel]), WHEEL);
    const up = await fetch(`${URL_}/${name('local')}/`, { method: 'POST', headers: auth, body: form });
    expect(up.status, await up.text()).toBe(200);
    const again = await fetch(`${URL_}/${name('local')}/`, { method: 'POST', headers: auth, body: form });
    expect(again.status).toBe(409);
    const html = await (await fetch(`${URL_}/${name('local')}/simple/e2e-demo/`)).text();
    expect(html).toContain(`${WHEEL}#sha256=${sha(wheel)}`);

    await create({ name: name('remote2'), package_type: 'pypi', repo_type: 'remote', upstream: { url: `${UPSTREAM}/pypi/simple` } });
    await create({ name: name('all'), package_type: 'pypi', repo_type: 'virtual', members: [name('local'), name('remote2')] });
    const merged = (await (await fetch(`${URL_}/${name('all')}/simple/e2e-demo/`, { headers: { accept: JSON_TYPE } })).json()) as { files: unknown[] };
    // The same file name in both members: listed once, the first member's.
    expect(merged.files).toHaveLength(1);
    const got = await fetch(`${URL_}/${name('all')}/packages/e2e-demo/${WHEEL}`);
    expect(got.headers.get('x-artifact-source')).toBe('local');
  });
});
