import type { FormatContext } from '../types.js';

/** One generated set of index files (repomd.xml + the files it names, APKINDEX.tar.gz, index.yaml…). */
export type IndexFiles = ReadonlyMap<string, Buffer>;

interface Entry {
  version: string;
  files: Promise<IndexFiles>;
  bytes: number;
}

/**
 * Indexes that local (and virtual) repositories generate from stored metadata. They are built on read, at most
 * once per change of what they cover (the artifacts' version), however many uploads happened in between: a burst
 * of uploads costs one rebuild at the next read. The previous set stays readable, so a client that read an old
 * top-level file (repomd.xml) can still fetch the files it names while a new set replaces it. Builders must be
 * deterministic (timestamps from the metadata, not the clock): every replica then produces the same bytes for the
 * same content and clients may switch replicas between two requests.
 */
export class GeneratedIndexes {
  private readonly sets = new Map<string, Entry[]>();

  constructor(private readonly keep = 2) {}

  /**
   * The current set for `key` (scoped to the repository) covering artifacts under `prefix`. `extraVersion` adds
   * inputs that are not artifacts (e.g. the members of a virtual repository).
   */
  async current(ctx: FormatContext, key: string, prefix: string, build: () => Promise<IndexFiles>, extraVersion = ''): Promise<IndexFiles> {
    const version = (await ctx.artifacts.version(prefix)) + extraVersion;
    const id = `${ctx.repo.id}:${key}`;
    const list = this.sets.get(id) ?? [];
    const hit = list.find((e) => e.version === version);
    if (hit) return hit.files;
    const entry: Entry = { version, files: build(), bytes: 0 };
    entry.files.then(
      (f) => (entry.bytes = [...f.values()].reduce((n, b) => n + b.length, 0)),
      () => this.sets.set(id, (this.sets.get(id) ?? []).filter((e) => e !== entry)),
    );
    this.sets.set(id, [entry, ...list].slice(0, this.keep));
    return entry.files;
  }

  /** A file of the current set or of the one before (see the class comment). */
  async file(ctx: FormatContext, key: string, prefix: string, name: string, build: () => Promise<IndexFiles>): Promise<Buffer | undefined> {
    const files = await this.current(ctx, key, prefix, build);
    const found = files.get(name);
    if (found) return found;
    for (const e of this.sets.get(`${ctx.repo.id}:${key}`) ?? []) {
      const f = (await e.files.catch(() => undefined))?.get(name);
      if (f) return f;
    }
    return undefined;
  }
}
