import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getSetting, setSetting } from '../db/settings-table.js';
import type { Database } from '../db/types.js';
import { HttpError } from '../errors.js';
import type { HttpRequest } from '../http/types.js';
import type { Logger } from '../log.js';

const KEY = 'admin_token_sha256';

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * The admin token: from ARTIFACTAPI_ADMIN_TOKEN, or generated on first start, stored only as a
 * SHA-256 hash, written once to <data dir>/admin.token (0600). Accepted as a Bearer token and as
 * the password of HTTP Basic with any user name — what docker, pip, twine and npm send.
 */
export class Auth {
  private hash: Buffer | undefined;

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
  ) {}

  async init(envToken: string | undefined, dataDir: string): Promise<void> {
    if (envToken) {
      this.hash = sha256(envToken);
      await setSetting(this.db, KEY, this.hash.toString('hex'));
      return;
    }
    const stored = await getSetting(this.db, KEY);
    if (stored) {
      this.hash = Buffer.from(stored, 'hex');
      return;
    }
    const token = randomBytes(32).toString('base64url');
    this.hash = sha256(token);
    await setSetting(this.db, KEY, this.hash.toString('hex'));
    await mkdir(dataDir, { recursive: true });
    const file = join(dataDir, 'admin.token');
    await writeFile(file, token + '\n', { mode: 0o600 });
    // Printed once, on the run that generated it; afterwards only the hash exists (and the file).
    // The token goes to the terminal once, never into the structured log (which is often shipped elsewhere).
    this.log.warn({ file }, 'generated an admin token; it is printed once on stderr and saved in the file');
    process.stderr.write(`\nartifactapi admin token: ${token}\n(saved to ${file}; set ARTIFACTAPI_ADMIN_TOKEN to choose your own)\n\n`);
  }

  /** The credential presented, if any: Bearer token or Basic password. */
  private presented(req: HttpRequest): string | undefined {
    const h = req.header('authorization');
    if (!h) return undefined;
    const sp = h.indexOf(' ');
    if (sp < 0) return undefined;
    const scheme = h.slice(0, sp).toLowerCase();
    const value = h.slice(sp + 1).trim();
    if (scheme === 'bearer') return value;
    if (scheme === 'basic') {
      const dec = Buffer.from(value, 'base64').toString('utf8');
      const colon = dec.indexOf(':');
      return colon < 0 ? undefined : dec.slice(colon + 1);
    }
    return undefined;
  }

  isAdmin(req: HttpRequest): boolean {
    const t = this.presented(req);
    if (t === undefined || !this.hash) return false;
    return timingSafeEqual(sha256(t), this.hash);
  }

  /** 401 with a challenge (clients retry with credentials only after one), whether none or a wrong one was sent. */
  requireAdmin(req: HttpRequest): void {
    if (this.isAdmin(req)) return;
    const message = this.presented(req) === undefined ? 'authentication required' : 'invalid credentials';
    throw new HttpError(401, 'UNAUTHORIZED', message, undefined, { 'WWW-Authenticate': 'Basic realm="artifactapi"' });
  }
}
