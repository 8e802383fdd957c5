import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, startTestApp, type TestApp } from './helpers/app.js';

const run = promisify(execFile);

describe('artifactapi CLI over the typed client', () => {
  let t: TestApp;
  const cli = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env: { ...process.env, ARTIFACTAPI_URL: t.url, ARTIFACTAPI_TOKEN: t.token } });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  };
  beforeAll(async () => {
    t = await startTestApp({ engine: 'node', drivers: DRIVER_SETS[0]! });
  });
  afterAll(async () => t?.stop());

  it('repo add / list / show / rm, gc, status', async () => {
    expect((await cli('repo', 'add', 'cli-local', 'generic', 'local')).out).toContain('created local generic repository cli-local');
    expect((await cli('repo', 'add', '--json', '{"name":"cli-virt","package_type":"generic","repo_type":"virtual","members":["cli-local"]}')).code).toBe(0);
    const list = await cli('repo', 'list');
    expect(list.out).toMatch(/^NAME\s+TYPE\s+KIND/);
    expect(list.out).toMatch(/cli-virt\s+generic\s+virtual\s+cli-local/);
    expect(JSON.parse((await cli('repo', 'show', 'cli-local')).out)).toMatchObject({ name: 'cli-local', repo_type: 'local' });
    expect((await cli('gc', '--dry-run')).out).toMatch(/^would delete 0 blobs/);
    expect((await cli('status')).out).toMatch(/^status\s+ok/);
    expect((await cli('repo', 'rm', 'cli-virt')).out).toBe('deleted cli-virt\n');
  });

  it('errors are one clear line with a non-zero exit', async () => {
    const missing = await cli('repo', 'show', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
    expect(missing.err).toContain('REPO_NOT_FOUND');
    const bad = await cli('repo', 'add', 'x', 'nosuchtype', 'local');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('INVALID_REPOSITORY');
    const usage = await cli('frobnicate');
    expect(usage.code).toBe(2);
    const down = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--url', 'http://127.0.0.1:1']).catch((e) => e as { code: number; stderr: string });
    expect((down as { code: number }).code).toBe(1);
    expect((down as { stderr: string }).stderr).toMatch(/cannot reach/);
  });
});
