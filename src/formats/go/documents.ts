import type { ArtifactEntry, ArtifactQuery, MemberDocument } from '../types.js';
import { isPseudoVersion, latestOf, sortSemver } from './semver.js';

/** The documents the protocol derives from versions: @v/list, .info, @latest (local generation, virtual merge). */

export const INFO_TYPE = 'application/json';
export const LIST_TYPE = 'text/plain; charset=utf-8';

/** Metadata stored with an uploaded module zip. */
export interface ZipMetadata {
  module: string;
  version: string;
  /** Upload time (RFC 3339): the `Time` of the version's .info. */
  time: string;
  /** The version's go.mod (served as `.mod`). */
  goMod: string;
}

export function zipMetadata(e: ArtifactEntry): ZipMetadata | null {
  const m = e.metadata as Partial<ZipMetadata>;
  if (typeof m.version !== 'string' || typeof m.time !== 'string' || typeof m.goMod !== 'string' || typeof m.module !== 'string') return null;
  return m as ZipMetadata;
}

export function infoJson(version: string, time: string): Buffer {
  return Buffer.from(JSON.stringify({ Version: version, Time: time }) + '\n');
}

/** @v/list: one version a line; pseudo-versions are left out (`go help goproxy`). */
export function listBody(versions: Iterable<string>): Buffer {
  const vs = sortSemver([...new Set(versions)].filter((v) => !isPseudoVersion(v)));
  return Buffer.from(vs.map((v) => v + '\n').join(''));
}

const PAGE = 1000;
const MAX_VERSIONS = 100_000;

/** The uploaded versions of one module in a local repository, with their zip metadata. */
export async function localVersions(artifacts: ArtifactQuery, escaped: string): Promise<ZipMetadata[]> {
  const prefix = `${escaped}/@v/`;
  const out: ZipMetadata[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await artifacts.list(prefix, { after, limit: PAGE });
    for (const e of page) {
      // The prefix also matches nothing deeper: module paths never contain `@v`, so only this module's files.
      if (!e.path.endsWith('.zip') || e.path.slice(prefix.length).includes('/')) continue;
      const m = zipMetadata(e);
      if (m) out.push(m);
    }
    if (page.length < PAGE || out.length >= MAX_VERSIONS) return out;
    after = page[page.length - 1]!.path;
  }
}

/** Versions named by members' @v/list answers. */
export function parseList(body: Buffer): string[] {
  return body
    .toString('utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((v) => v !== '');
}

/** Virtual @v/list: the union of the members' versions. */
export function mergeLists(docs: MemberDocument[]): Buffer {
  return listBody(docs.flatMap((d) => parseList(d.body)));
}

/**
 * Virtual @latest: the member answer whose version the go command's `latest` query would pick (highest
 * release, else highest pre-release); the first member wins a tie. Null when no member answered JSON.
 */
export function mergeLatest(docs: MemberDocument[]): Buffer | null {
  const byVersion = new Map<string, Buffer>();
  for (const d of docs) {
    try {
      const info = JSON.parse(d.body.toString('utf8')) as { Version?: unknown };
      if (typeof info.Version === 'string' && !byVersion.has(info.Version)) byVersion.set(info.Version, d.body);
    } catch {
      /* not an info document */
    }
  }
  const best = latestOf(byVersion.keys());
  return best === null ? null : byVersion.get(best)!;
}
