import { deleteArtifactIfOlder, listArtifacts, type ArtifactRow } from '../db/artifacts-table.js';
import type { Database } from '../db/types.js';
import { parseManifest } from '../registry/manifest.js';
import type { Repository } from '../repos/model.js';
import type { BlobStore } from '../storage/types.js';

const DIGEST_REF = /^sha256:[0-9a-f]{64}$/;
const PAGE = 5_000;

async function readManifest(store: BlobStore, row: ArtifactRow): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of await store.read(row.storageKey)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

interface Image {
  /** digest → the row stored at manifests/{digest} */
  manifests: Map<string, ArtifactRow>;
  tagged: Set<string>;
  /** blob digest → its link row */
  links: Map<string, ArtifactRow>;
}

/**
 * Mark and sweep inside one local docker repository (setting gc_untagged_manifests): from every tag, mark the
 * manifest, its index children and the blobs they name, and every referrer (a manifest whose subject is marked).
 * Manifests and blob links left unmarked and not touched since `cutoff` are deleted; the blob sweep that follows
 * frees their bytes when nothing else refers to them.
 */
export async function collectUntagged(db: Database, store: BlobStore, repo: Repository, cutoff: Date, dryRun: boolean): Promise<{ manifests: number; links: number }> {
  const images = new Map<string, Image>();
  const image = (name: string) => {
    let i = images.get(name);
    if (!i) images.set(name, (i = { manifests: new Map(), tagged: new Set(), links: new Map() }));
    return i;
  };
  for (let after: string | undefined; ; ) {
    const rows = await listArtifacts(db, repo.id, { after, limit: PAGE });
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.path;
    for (const r of rows) {
      const m = /^(.+)\/(manifests|blobs)\/([^/]+)$/.exec(r.path);
      if (!m) continue;
      const img = image(m[1]!);
      if (m[2] === 'blobs') img.links.set(m[3]!, r);
      else if (DIGEST_REF.test(m[3]!)) img.manifests.set(m[3]!, r);
      else img.tagged.add(`sha256:${r.sha256}`);
    }
  }
  let manifests = 0;
  let links = 0;
  for (const [name, img] of images) {
    const marked = new Set<string>();
    const usedBlobs = new Set<string>();
    const subjects = new Map<string, string>(); // referrer → subject
    for (const [d, row] of img.manifests) if (typeof row.metadata.subject === 'string') subjects.set(d, row.metadata.subject);
    const queue = [...img.tagged];
    const mark = async (d: string) => {
      if (marked.has(d)) return;
      marked.add(d);
      const row = img.manifests.get(d);
      if (!row) return;
      const parsed = parseManifest(await readManifest(store, row), row.contentType ?? undefined);
      for (const b of parsed.blobs) usedBlobs.add(b);
      queue.push(...parsed.manifests);
    };
    for (let changed = true; changed; ) {
      while (queue.length) await mark(queue.pop()!);
      changed = false;
      for (const [ref, subject] of subjects) {
        if (!marked.has(ref) && marked.has(subject)) {
          queue.push(ref);
          changed = true;
        }
      }
    }
    const sweep = async (path: string, row: ArtifactRow) => {
      if (row.updatedAt >= cutoff) return false;
      return dryRun ? true : deleteArtifactIfOlder(db, repo.id, path, cutoff);
    };
    for (const [d, row] of img.manifests) if (!marked.has(d) && (await sweep(`${name}/manifests/${d}`, row))) manifests++;
    for (const [d, row] of img.links) if (!usedBlobs.has(d) && (await sweep(`${name}/blobs/${d}`, row))) links++;
  }
  return { manifests, links };
}
