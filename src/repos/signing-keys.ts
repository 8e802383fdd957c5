import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { getSetting, setSettingIfAbsent } from '../db/settings-table.js';
import type { Database } from '../db/types.js';
import type { SigningKey } from '../formats/types.js';
import type { Repository } from './model.js';

const generate = promisify(generateKeyPair);

/**
 * Per-repository RSA signing keys, created on first use and stored in the settings table. Two replicas that race
 * both generate one, the first insert wins and both use it. The private half is only ever read here.
 */
export class SigningKeys {
  private readonly memo = new Map<string, Promise<SigningKey>>();

  constructor(private readonly db: Database) {}

  get(repo: Repository, name: string): Promise<SigningKey> {
    const key = `signing-key:${repo.id}:${name}`;
    let p = this.memo.get(key);
    if (!p) {
      p = this.load(key);
      this.memo.set(key, p);
      p.catch(() => this.memo.delete(key));
    }
    return p;
  }

  private async load(key: string): Promise<SigningKey> {
    const stored = await getSetting(this.db, key);
    if (stored) return JSON.parse(stored) as SigningKey;
    const { privateKey, publicKey } = await generate('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const fresh: SigningKey = { privateKeyPem: privateKey, publicKeyPem: publicKey, createdAt: new Date().toISOString() };
    return JSON.parse(await setSettingIfAbsent(this.db, key, JSON.stringify(fresh))) as SigningKey;
  }
}
