import { ByteLru } from '../../util/byte-lru.js';

/**
 * Documents rendered from a stored one (another representation, an abbreviation), kept in memory by a key that
 * names their inputs (e.g. the stored document's sha256 and the variant), so a hot index is rendered once per
 * change, not per request.
 */
export class RenderedCache {
  private readonly lru: ByteLru<Buffer>;

  constructor(maxBytes = 64 * 1024 * 1024) {
    this.lru = new ByteLru(maxBytes);
  }

  async get(key: string, render: () => Promise<Buffer> | Buffer): Promise<Buffer> {
    const hit = this.lru.get(key);
    if (hit) return hit;
    const body = await render();
    this.lru.set(key, body, body.length);
    return body;
  }
}
