import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, startTestApp, type TestApp } from './helpers/app.js';
import { raw } from './helpers/http.js';
import { HAVE_OPENSSL } from './helpers/tls-cert.js';
import { seedBlob, startTokenRegistry, type TokenRegistry } from './helpers/token-registry.js';

// Docker Hub's scheme against CNCF distribution: a 401 with a Bearer challenge, a token from the realm for the
// repository's credentials, the request again with it.
describe.skipIf(!HAVE_OPENSSL)('remote docker repositories on a registry with token authentication', () => {
  let reg: TokenRegistry;
  let t: TestApp;
  const first = randomBytes(300_000);
  const second = randomBytes(200_000);
  let firstDigest = '';
  let secondDigest = '';

  beforeAll(async () => {
    reg = await startTokenRegistry({ ci: { password: 's3cret', grants: { 'team/private': ['pull'] } } });
    firstDigest = await seedBlob(reg, 'team/private', first);
    secondDigest = await seedBlob(reg, 'team/private', second);
    t = await startTestApp({ engine: 'node', drivers: DRIVER_SETS[0]! });
    await t.createRepo({ name: 'hub-ci', package_type: 'docker', repo_type: 'remote', upstream: { url: reg.url, username: 'ci', password: 's3cret' } });
    await t.createRepo({ name: 'hub-anon', package_type: 'docker', repo_type: 'remote', upstream: { url: reg.url } });
  });
  afterAll(async () => {
    await t?.stop();
    await reg?.stop();
  });

  it('a remote with credentials pulls a private blob with a token issued for them', async () => {
    const r = await raw(t.url, 'GET', `/v2/hub-ci/team/private/blobs/${firstDigest}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(first)).toBe(true);
    expect(reg.tokenRequests('ci')).toBe(1);
  });

  it("a remote without credentials asks for its own token and is refused: it never uses another remote's", async () => {
    const r = await raw(t.url, 'GET', `/v2/hub-anon/team/private/blobs/${secondDigest}`);
    expect(r.status).toBe(502);
    expect(r.json().errors[0]).toMatchObject({ code: 'UNKNOWN', message: 'upstream answered 401', detail: { status: 401 } });
    expect(reg.tokenRequests('')).toBe(1);
  });

  it('the token is reused for the next request of the same repository', async () => {
    const r = await raw(t.url, 'GET', `/v2/hub-ci/team/private/blobs/${secondDigest}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(second)).toBe(true);
    expect(reg.tokenRequests('ci')).toBe(1);
  });
});
