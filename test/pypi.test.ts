import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferSource, readZipEntry, zipEntries } from '../src/formats/shared/archive.js';
import { DRIVER_SETS, createTrio, startTestApp, stopAll, type TestApp } from './helpers/app.js';
import { hashGet, raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { buildDist, makeVenv, sh, twine, type CommandResult, type Dists } from './helpers/python.js';
import { serverModeAvailable } from './helpers/services.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';

async function wheelMetadata(wheel: string): Promise<Buffer> {
  const src = bufferSource(await readFile(wheel));
  const e = (await zipEntries(src)).find((x) => x.name.endsWith('.dist-info/METADATA'))!;
  return readZipEntry(src, e, 1 << 20);
}

function ok(r: CommandResult): CommandResult {
  if (r.code !== 0) throw new Error(`command failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

describe.each(DRIVER_SETS)('pypi repositories with pip and twine [$name]', (drivers) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: StaticUpstream;
  let work: string;
  let local: Dists;
  let local2: Dists;
  let remote: Dists;
  let pip: (args: string[]) => Promise<CommandResult>;

  /** pip installs into a fresh target dir; returns the installed package's VERSION. */
  async function install(repo: string, spec: string, extra: string[] = []): Promise<string> {
    const target = await mkdtemp(join(work, 'target-'));
    ok(await pip(['install', '--index-url', `${t.url}/${repo}/simple/`, '--target', target, '--no-deps', ...extra, spec]));
    const mod = spec.split(/[=<>]/)[0]!.replace(/-/g, '_');
    const r = ok(await sh('/usr/bin/python3', ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(target)}); import ${mod}; print(${mod}.VERSION)`]));
    return r.stdout.trim();
  }

  const upload = (repo: string, files: string[], extra: string[] = []) =>
    twine(['upload', '--disable-progress-bar', '--repository-url', `${t.url}/${repo}/`, '-u', 'ci', '-p', t.token, ...extra, ...files]);

  beforeAll(async () => {
    if (skip) return;
    work = await mkdtemp(join(tmpdir(), 'aa-pypi-'));
    [local, local2, remote] = await Promise.all([
      buildDist(work, 'demo-pkg', '1.0'),
      buildDist(work, 'demo-pkg', '2.0'),
      buildDist(work, 'remote-lib', '3.1'),
    ]);
    ({ pip } = await makeVenv(join(work, 'venv')));

    // The upstream: a static PEP 503 tree, files on absolute URLs outside /simple, a PEP 658 metadata file.
    up = await startNginx();
    await mkdir(join(up.root, 'simple', 'remote-lib'), { recursive: true });
    await mkdir(join(up.root, 'simple', 'bad-hash'), { recursive: true });
    await mkdir(join(up.root, 'files'), { recursive: true });
    const whl = await readFile(remote.wheel);
    const sd = await readFile(remote.sdist);
    const meta = await wheelMetadata(remote.wheel);
    await copyFile(remote.wheel, join(up.root, 'files', basename(remote.wheel)));
    await copyFile(remote.sdist, join(up.root, 'files', basename(remote.sdist)));
    await writeFile(join(up.root, 'files', `${basename(remote.wheel)}.metadata`), meta);
    await writeFile(
      join(up.root, 'simple', 'remote-lib', 'index.html'),
      `<!DOCTYPE html><html><body>
<a href="${up.url}/files/${basename(remote.wheel)}#sha256=${sha256(whl)}" data-requires-python="&gt;=3.7" data-dist-info-metadata="sha256=${sha256(meta)}">${basename(remote.wheel)}</a><br/>
<a href="../../files/${basename(remote.sdist)}#sha256=${sha256(sd)}">${basename(remote.sdist)}</a><br/>
</body></html>`,
    );
    await writeFile(join(up.root, 'simple', 'index.html'), '<html><body><a href="remote-lib/">remote-lib</a><a href="bad-hash/">bad-hash</a></body></html>');
    // An index that promises other bytes than the file has: must never be cached.
    await writeFile(
      join(up.root, 'simple', 'bad-hash', 'index.html'),
      `<a href="${up.url}/files/${basename(remote.sdist)}#sha256=${'0'.repeat(64)}">bad_hash-1.0.tar.gz</a>`,
    );

    t = await startTestApp({ engine: 'node', drivers });
    await createTrio(t, 'pypi', 'py', 'py', `${up.url}/simple`);
  }, 120_000);

  afterAll(() => stopAll(t, up, work));

  it.skipIf(skip)('twine uploads a wheel and an sdist; a re-upload is a 409 that --skip-existing accepts', async () => {
    const r = ok(await upload('py-local', [local.wheel, local.sdist]));
    expect(r.stdout + r.stderr).toMatch(/Uploading demo_pkg-1\.0-py3-none-any\.whl/);
    const again = await upload('py-local', [local.wheel]);
    expect(again.code).not.toBe(0);
    expect(again.stdout + again.stderr).toMatch(/409/);
    ok(await upload('py-local', [local.wheel], ['--skip-existing']));
    const bad = await twine(['upload', '--disable-progress-bar', '--repository-url', `${t.url}/py-local/`, '-u', 'ci', '-p', 'wrong', local2.wheel]);
    expect(bad.stdout + bad.stderr).toMatch(/401|Invalid or non-existent authentication/);
  });

  it.skipIf(skip)('pip installs from the local repository; pages in JSON and HTML by Accept, PEP 658 metadata', async () => {
    expect(await install('py-local', 'demo-pkg==1.0')).toBe('1.0');
    const whl = await readFile(local.wheel);
    const json = await raw(t.url, 'GET', '/py-local/simple/demo-pkg/', { headers: { accept: JSON_TYPE } });
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toContain(JSON_TYPE);
    const page = JSON.parse(json.body.toString()) as { name: string; files: Array<{ filename: string; url: string; hashes: { sha256: string }; 'core-metadata'?: { sha256: string } }> };
    const wf = page.files.find((f) => f.filename === basename(local.wheel))!;
    expect(wf.hashes.sha256).toBe(sha256(whl));
    const meta = await raw(t.url, 'GET', `/py-local/simple/demo-pkg/${wf.url}`.replace('/simple/demo-pkg/../../', '/') + '.metadata');
    expect(meta.status).toBe(200);
    expect(meta.body.equals(await wheelMetadata(local.wheel))).toBe(true);
    expect(wf['core-metadata']!.sha256).toBe(sha256(meta.body));
    const html = await raw(t.url, 'GET', '/py-local/simple/demo-pkg/');
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.body.toString()).toContain(`#sha256=${sha256(whl)}`);
    expect((await raw(t.url, 'GET', '/py-local/simple/', { headers: { accept: 'text/html' } })).body.toString()).toContain('href="demo-pkg/"');
    const redirect = await raw(t.url, 'GET', '/py-local/simple/Demo_Pkg/');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toMatch(/\/py-local\/simple\/demo-pkg\/$/);
    expect((await raw(t.url, 'GET', '/py-local/simple/demo-pkg/', { headers: { accept: 'application/xml' } })).status).toBe(406);
  });

  it.skipIf(skip)('uploads whose contents contradict their name are refused and nothing is stored', async () => {
    // A real wheel of demo-pkg 2.0 renamed to claim version 9.9.
    const liar = join(work, 'demo_pkg-9.9-py3-none-any.whl');
    await copyFile(local2.wheel, liar);
    const r = await upload('py-local', [liar]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/400/);
    expect((await raw(t.url, 'GET', `/py-local/packages/demo-pkg/${basename(liar)}`)).status).toBe(404);
    const notDist = await raw(t.url, 'PUT', '/py-local/packages/demo-pkg/readme.txt', { headers: t.auth, body: Buffer.from('x') });
    expect(notDist.status).toBe(400);
  });

  it.skipIf(skip)('bad uploads through the twine API are a clear 4xx and store nothing', async () => {
    const wheel = await readFile(local2.wheel);
    const form = (fields: Record<string, string>, filename: string, body: Buffer = wheel) => {
      const f = new FormData();
      f.set(':action', 'file_upload');
      for (const [k, v] of Object.entries(fields)) f.set(k, v);
      f.set('content', new Blob([body]), filename);
      return f;
    };
    const post = async (f: FormData) => {
      const r = await fetch(`${t.url}/py-local/`, { method: 'POST', headers: t.auth, body: f });
      return { status: r.status, body: (await r.json()) as { error: { code: string } } };
    };
    // The digest twine computed does not match the bytes that arrived.
    const mismatch = await post(form({ name: 'demo-pkg', version: '2.0', sha256_digest: 'ab'.repeat(32) }, basename(local2.wheel)));
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.code).toBe('DIGEST_MISMATCH');
    // Not a distribution file name; a traversal attempt in the file name.
    for (const name of ['demo-pkg.exe', '../../etc/demo_pkg-2.0-py3-none-any.whl', 'demo_pkg-2.0.whl']) {
      const r = await post(form({ name: 'demo-pkg', version: '2.0' }, name));
      expect(r.status, name).toBe(400);
    }
    // The form names another project than the file.
    expect((await post(form({ name: 'other', version: '2.0' }, basename(local2.wheel)))).status).toBe(400);
    // A file that is not a zip at all.
    expect((await post(form({}, basename(local2.wheel), Buffer.from('not a wheel')))).status).toBe(400);
    const page = JSON.parse((await raw(t.url, 'GET', '/py-local/simple/demo-pkg/', { headers: { accept: JSON_TYPE } })).body.toString()) as { files: Array<{ filename: string }> };
    expect(page.files.map((f) => f.filename)).not.toContain(basename(local2.wheel));
  });

  it.skipIf(skip)('pip installs through the remote: links rewritten, files verified against the index, then cached', async () => {
    expect(await install('py-remote', 'remote-lib==3.1')).toBe('3.1');
    const page = await raw(t.url, 'GET', '/py-remote/simple/remote-lib/', { headers: { accept: JSON_TYPE } });
    expect(page.body.toString()).not.toContain(up.url);
    const whl = basename(remote.wheel);
    const first = await raw(t.url, 'GET', `/py-remote/packages/remote-lib/${whl}`);
    expect(first.status).toBe(200);
    expect(first.headers['x-artifact-source']).toBe('cache');
    expect(sha256(first.body)).toBe(sha256(await readFile(remote.wheel)));
    const meta = await raw(t.url, 'GET', `/py-remote/packages/remote-lib/${whl}.metadata`);
    expect(meta.body.equals(await wheelMetadata(remote.wheel))).toBe(true);
    // sdist linked relatively from the upstream page
    const sd = await raw(t.url, 'GET', `/py-remote/packages/remote-lib/${basename(remote.sdist)}`);
    expect(sha256(sd.body)).toBe(sha256(await readFile(remote.sdist)));
    // A file the index does not list is not fetched from anywhere.
    expect((await raw(t.url, 'GET', '/py-remote/packages/remote-lib/remote_lib-0.0-py3-none-any.whl')).status).toBe(404);
  });

  it.skipIf(skip)('a file whose bytes differ from the index digest is a 502 and is not cached', async () => {
    // Either refused up front (502) or cut off before the last byte: never a complete 200, and never cached.
    for (let i = 0; i < 2; i++) {
      const r = await hashGet(t.url, '/py-remote/packages/bad-hash/bad_hash-1.0.tar.gz');
      expect(r.status === 502 || !r.complete).toBe(true);
      expect(r.headers['x-artifact-source']).not.toBe('cache');
    }
  });

  it.skipIf(skip)('the virtual repository merges the members and takes uploads for its deploy target', async () => {
    expect(await install('py', 'remote-lib==3.1')).toBe('3.1');
    expect(await install('py', 'demo-pkg==1.0')).toBe('1.0');
    ok(await upload('py', [local2.wheel]));
    expect((await raw(t.url, 'GET', `/py-local/packages/demo-pkg/${basename(local2.wheel)}`)).status).toBe(200);
    expect(await install('py', 'demo-pkg')).toBe('2.0');
    const list = JSON.parse((await raw(t.url, 'GET', '/py/simple/', { headers: { accept: JSON_TYPE } })).body.toString()) as { projects: Array<{ name: string }> };
    expect(list.projects.map((p) => p.name).sort()).toEqual(expect.arrayContaining(['demo-pkg', 'remote-lib']));
  });

  it.skipIf(skip)('deleting a version removes its files from the index', async () => {
    const del = await raw(t.url, 'DELETE', '/py-local/packages/demo-pkg/?version=2.0', { headers: t.auth });
    expect(del.status).toBe(200);
    const page = JSON.parse((await raw(t.url, 'GET', '/py-local/simple/demo-pkg/', { headers: { accept: JSON_TYPE } })).body.toString()) as { files: Array<{ filename: string }> };
    expect(page.files.map((f) => f.filename).sort()).toEqual([basename(local.sdist), basename(local.wheel)].sort());
    expect(await install('py-local', 'demo-pkg')).toBe('1.0');
  });

  it.skipIf(skip)('with the upstream down, the remote serves its stale page and cached files; pip still installs', async () => {
    await up.halt();
    await new Promise((r) => setTimeout(r, 1100)); // past the page's 1 s TTL
    const page = await raw(t.url, 'GET', '/py-remote/simple/remote-lib/', { headers: { accept: JSON_TYPE } });
    expect(page.status).toBe(200);
    expect(page.headers['x-artifact-stale']).toBe('true');
    expect(await install('py-remote', 'remote-lib==3.1')).toBe('3.1');
  });
});
