import { posix } from 'node:path';
import { badRequest, tooLarge } from '../../errors.js';
import { readZipEntry, zipEntries, type ByteSource } from '../shared/archive.js';
import { checkFilePath } from './module-path.js';
import { parseSemver } from './semver.js';

/** Limits of golang.org/x/mod/zip: what the go command refuses to extract, refused at upload. */
export const MAX_ZIP_FILE = 500 << 20;
export const MAX_GO_MOD = 16 << 20;
export const MAX_LICENSE = 16 << 20;

const invalid = (message: string) => badRequest('GO_MODULE_INVALID', message);

/**
 * The module path a go.mod declares (`module example.com/m`, quoted or back-quoted), or null. Comments are
 * dropped; the go command's parser also accepts a `module (...)` block, which nobody writes and is refused here.
 */
export function goModModulePath(text: string): string | null {
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\/\/.*$/, '').trim();
    const m = /^module\s+(.+)$/.exec(line) ?? /^module(".*")$/.exec(line);
    if (!m) continue;
    const v = m[1]!.trim();
    if (v.startsWith('"')) {
      try {
        const s = JSON.parse(v) as unknown;
        return typeof s === 'string' ? s : null;
      } catch {
        return null;
      }
    }
    if (v.startsWith('`')) return v.length > 1 && v.endsWith('`') ? v.slice(1, -1) : null;
    return /^\S+$/.test(v) ? v : null;
  }
  return null;
}

/** Case folding for collision checks (zip.collisionChecker uses Unicode simple folding). */
const fold = (s: string) => s.toUpperCase().toLowerCase();

/**
 * Check a module zip as golang.org/x/mod/zip.CheckZip does: every entry under `{module}@{version}/`, clean and
 * valid file paths (no traversal, no `..`, no backslash), no duplicate or case-colliding names, no file that is
 * also a directory, go.mod only at the root and with that exact spelling, size limits. Returns the go.mod text:
 * its `module` line must equal the module path; `+incompatible` versions are the ones without a go.mod (the go
 * command synthesizes `module {path}` for them).
 */
export async function checkModuleZip(src: ByteSource, module: string, version: string): Promise<{ goMod: string }> {
  if (src.size > MAX_ZIP_FILE) throw tooLarge(`module zip is ${src.size} bytes; the go command refuses more than ${MAX_ZIP_FILE}`, 'GO_MODULE_TOO_LARGE');
  const entries = await zipEntries(src);
  const prefix = `${module}@${version}/`;
  const seen = new Map<string, { path: string; isDir: boolean }>();
  const collide = (p: string, isDir: boolean): void => {
    const other = seen.get(fold(p));
    if (other) {
      if (other.path !== p) throw invalid(`case-insensitive file name collision: "${other.path}" and "${p}"`);
      if (other.isDir !== isDir) throw invalid(`entry "${p}" is both a file and a directory`);
      if (!isDir) throw invalid(`multiple entries for file "${p}"`);
    } else seen.set(fold(p), { path: p, isDir });
    const parent = posix.dirname(p);
    if (parent !== '.') collide(parent, true);
  };
  let total = 0;
  let goModEntry: (typeof entries)[number] | undefined;
  for (const e of entries) {
    if (!e.name.startsWith(prefix)) throw invalid(`zip entry "${e.name}" is not under "${prefix}"`);
    let name = e.name.slice(prefix.length);
    if (name === '') continue;
    const isDir = name.endsWith('/');
    if (isDir) name = name.slice(0, -1);
    if (posix.normalize(name) !== name || name.startsWith('/') || name === '.' || name.startsWith('../')) {
      throw invalid(`zip entry "${e.name}": file path is not clean`);
    }
    const bad = checkFilePath(name);
    if (bad) throw invalid(`zip entry "${e.name}": malformed file path: ${bad}`);
    collide(name, isDir);
    if (isDir) continue;
    if (e.method !== 0 && e.method !== 8) throw invalid(`zip entry "${e.name}" uses compression method ${e.method} (only store and deflate)`);
    const base = posix.basename(name);
    if (base.toLowerCase() === 'go.mod') {
      if (base !== name) throw invalid(`zip entry "${e.name}": go.mod file not in module root directory`);
      if (name !== 'go.mod') throw invalid(`zip entry "${e.name}": go.mod files must have lowercase names`);
    }
    total += e.size;
    if (total > MAX_ZIP_FILE) throw tooLarge(`total uncompressed size of module contents too large (max size is ${MAX_ZIP_FILE} bytes)`, 'GO_MODULE_TOO_LARGE');
    if (name === 'go.mod') {
      if (e.size > MAX_GO_MOD) throw invalid(`go.mod file too large (max size is ${MAX_GO_MOD} bytes)`);
      goModEntry = e;
    }
    if (name === 'LICENSE' && e.size > MAX_LICENSE) throw invalid(`LICENSE file too large (max size is ${MAX_LICENSE} bytes)`);
  }
  const incompatible = parseSemver(version)?.build === '+incompatible';
  if (!goModEntry) {
    if (incompatible) return { goMod: `module ${module}\n` };
    throw invalid(`module zip has no ${prefix}go.mod (only +incompatible versions may lack one)`);
  }
  if (incompatible) throw invalid(`${version}: +incompatible versions have no go.mod; a module with a go.mod at major version 2 or later needs the /vN path suffix`);
  const raw = await readZipEntry(src, goModEntry, MAX_GO_MOD);
  const goMod = raw.toString('utf8');
  if (goMod.includes('\uFFFD')) throw invalid('go.mod is not valid UTF-8');
  const declared = goModModulePath(goMod);
  if (declared === null) throw invalid('go.mod has no module line');
  if (declared !== module) throw invalid(`go.mod declares module "${declared}" but the upload is for "${module}"`);
  return { goMod };
}
