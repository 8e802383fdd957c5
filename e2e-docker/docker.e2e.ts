import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeLayout } from '../test/helpers/oci-layout.js';

const run = promisify(execFile);
const SKOPEO = '/usr/bin/skopeo';
// skopeo probes HTTPS first on a plain-HTTP registry; the node:http replica answers that at once (see README).
const BASE = process.env.ARTIFACTAPI_URL_B ?? process.env.ARTIFACTAPI_URL ?? 'http://127.0.0.1:8080';
const TOKEN = process.env.ARTIFACTAPI_TOKEN ?? '';
const host = new URL(BASE).host;
const repo = `e2e-oci-${randomBytes(3).toString('hex')}`;

describe.skipIf(!existsSync(SKOPEO))('docker push and pull with skopeo, black box', () => {
  it('pushes an image to a local repository and pulls it back byte-identical', async () => {
    const created = await fetch(`${BASE}/api/v2/repositories`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: repo, package_type: 'docker', repo_type: 'local' }),
    });
    expect(created.status).toBe(201);
    const layout = await makeLayout([300_000, 2_000_000]);
    const out = await mkdtemp(join(tmpdir(), 'aa-e2e-pull-'));
    try {
      await run(SKOPEO, ['copy', '--dest-tls-verify=false', '--dest-creds', `ci:${TOKEN}`, `oci:${layout.dir}:${layout.tag}`, `docker://${host}/${repo}/team/app:v1`]);
      await run(SKOPEO, ['copy', '--src-tls-verify=false', `docker://${host}/${repo}/team/app:v1`, `oci:${out}:v1`]);
      for (const d of layout.blobDigests) {
        const hex = d.replace('sha256:', '');
        expect((await readFile(join(out, 'blobs', 'sha256', hex))).equals(await readFile(join(layout.dir, 'blobs', 'sha256', hex)))).toBe(true);
      }
      const tags = (await (await fetch(`${BASE}/v2/${repo}/team/app/tags/list`)).json()) as { tags: string[] };
      expect(tags.tags).toEqual(['v1']);
    } finally {
      await rm(out, { recursive: true, force: true });
      await rm(layout.dir, { recursive: true, force: true });
    }
  });
});
