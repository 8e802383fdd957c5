import { createHash } from 'node:crypto';
import { HttpError } from '../../errors.js';
import type { Servable } from '../../repos/servable.js';
import { RenderedCache } from '../shared/rendered-cache.js';
import { renderPackument } from './packument-stream.js';
import { readBounded } from '../../util/read-bounded.js';

/** Packuments bigger than this are refused rather than parsed (the registry's largest are a few tens of MB). */
const MAX_PACKUMENT = 256 * 1024 * 1024;
const cache = new RenderedCache(128 * 1024 * 1024);
/** Renders in progress: concurrent clients of a cold packument share one parse instead of holding one each. */
const inflight = new Map<string, Promise<Buffer>>();

async function readAll(s: Servable, signal?: AbortSignal): Promise<Buffer> {
  const whole = s.inMemory?.();
  if (whole) return whole;
  return readBounded(await s.open(undefined, signal), MAX_PACKUMENT, () => new HttpError(502, 'DOCUMENT_TOO_LARGE', `packument exceeds ${MAX_PACKUMENT} bytes`));
}

/**
 * The stored packument `found` as a client gets it (tarball URLs through `repoUrl`, full or abbreviated), rendered
 * once per stored version (its sha256, or the hash of an in-memory merged document) and variant.
 */
export async function renderedPackument(found: Servable, repoUrl: string, abbreviated: boolean, where: string, signal?: AbortSignal): Promise<Buffer> {
  // A document streaming from upstream has no stored digest yet: its bytes are hashed, so concurrent first
  // clients of a cold packument still share one parse.
  let body = found.inMemory?.();
  const digest = found.sha256 ?? createHash('sha256').update((body ??= await readAll(found, signal))).digest('hex');
  const key = `${digest}|${repoUrl}|${abbreviated ? 'a' : 'f'}`;
  let p = inflight.get(key);
  if (!p) {
    // Shared by every waiting client, so not tied to the first one's connection.
    p = cache.get(key, async () => renderPackument(body ?? (await readAll(found)), repoUrl, abbreviated, where)).finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}
