import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Terraform is not in Debian: these helpers build real provider packages (zip(1), or Python's zipfile for other
 * layouts), hash them with an independent implementation of Terraform's `h1:` (Python, dirhash.HashZip semantics),
 * and follow the network mirror protocol the way Terraform's provider installer does.
 */

export interface ProviderZip {
  file: string;
  bytes: Buffer;
  zh: string;
  h1: string;
}

/** `h1:` computed by Python from the zip on disk: sorted names, "sha256hex  name\n" lines, base64 SHA-256. */
export function pythonH1(zipFile: string): string {
  const script = `
import base64, hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = sorted(z.namelist(), key=lambda n: n.encode('utf-8'))
summary = ''.join('%s  %s\\n' % (hashlib.sha256(z.read(n)).hexdigest(), n) for n in names)
print('h1:' + base64.b64encode(hashlib.sha256(summary.encode('utf-8')).digest()).decode())
`;
  return execFileSync('/usr/bin/python3', ['-c', script, zipFile]).toString().trim();
}

/**
 * A provider package as HashiCorp's releases ship it: the plugin executable `terraform-provider-{type}_v{version}_x5`
 * and a LICENSE, zipped flat. `layout: 'python'` builds it with zipfile instead (a stored entry, a directory entry).
 */
export async function providerZip(work: string, type: string, version: string, os: string, arch: string, opts: { layout?: 'zip' | 'python'; executable?: string } = {}): Promise<ProviderZip> {
  const dir = await mkdtemp(join(work, 'prov-'));
  const exe = opts.executable ?? `terraform-provider-${type}_v${version}_x5`;
  await writeFile(join(dir, exe), Buffer.concat([Buffer.from('#!/bin/sh\necho provider\n'), randomBytes(64 * 1024)]));
  await chmod(join(dir, exe), 0o755);
  await writeFile(join(dir, 'LICENSE'), 'Mozilla Public License 2.0\n'.repeat(200));
  const out = join(await mkdtemp(join(work, 'out-')), `terraform-provider-${type}_${version}_${os}_${arch}.zip`);
  if (opts.layout === 'python') {
    await mkdir(join(dir, 'docs'));
    await writeFile(join(dir, 'docs', 'index.md'), '# docs\n');
    const script = `
import sys, zipfile
src, out, exe = sys.argv[1:4]
with zipfile.ZipFile(out, 'w') as z:
    z.write(src + '/' + exe, exe, compress_type=zipfile.ZIP_DEFLATED)
    z.write(src + '/LICENSE', 'LICENSE', compress_type=zipfile.ZIP_STORED)
    z.writestr(zipfile.ZipInfo('docs/'), b'')
    z.write(src + '/docs/index.md', 'docs/index.md', compress_type=zipfile.ZIP_DEFLATED)
`;
    execFileSync('/usr/bin/python3', ['-c', script, dir, out, exe]);
  } else {
    execFileSync('zip', ['-q', '-X', '-j', out, join(dir, exe), join(dir, 'LICENSE')]);
  }
  const bytes = await readFile(out);
  return { file: out, bytes, zh: createHash('sha256').update(bytes).digest('hex'), h1: pythonH1(out) };
}

export interface MirrorArchive {
  url: string;
  hashes?: string[];
}

/**
 * What `terraform init` does against `network_mirror { url = base }`: index.json, then {version}.json, then the
 * archive at its URL resolved against the {version}.json URL, checked against the strongest hash offered.
 */
export async function mirrorInstall(base: string, address: string, version: string, platform: string, work: string): Promise<{ url: string; bytes: Buffer; hashes: string[] }> {
  const root = base.endsWith('/') ? base : `${base}/`;
  const idx = await fetch(new URL(`${address}/index.json`, root));
  if (idx.status !== 200) throw new Error(`index.json: ${idx.status}`);
  const versions = ((await idx.json()) as { versions: Record<string, object> }).versions;
  if (!(version in versions)) throw new Error(`version ${version} not offered (${Object.keys(versions).join(', ')})`);
  const docUrl = new URL(`${address}/${version}.json`, root);
  const vr = await fetch(docUrl);
  if (vr.status !== 200) throw new Error(`${version}.json: ${vr.status}`);
  const archive = ((await vr.json()) as { archives: Record<string, MirrorArchive> }).archives[platform];
  if (!archive) throw new Error(`no ${platform} package`);
  const url = new URL(archive.url, docUrl).href;
  const ar = await fetch(url);
  if (ar.status !== 200) throw new Error(`archive ${url}: ${ar.status}`);
  const bytes = Buffer.from(await ar.arrayBuffer());
  const hashes = archive.hashes ?? [];
  const file = join(await mkdtemp(join(work, 'dl-')), 'pkg.zip');
  await writeFile(file, bytes);
  const h1 = hashes.find((h) => h.startsWith('h1:'));
  const zh = hashes.find((h) => h.startsWith('zh:'));
  if (h1 && pythonH1(file) !== h1) throw new Error(`h1 mismatch for ${url}`);
  if (zh && createHash('sha256').update(bytes).digest('hex') !== zh.slice(3)) throw new Error(`zh mismatch for ${url}`);
  return { url, bytes, hashes };
}

/**
 * The reference `h1:`: Go's own golang.org/x/mod/sumdb/dirhash (the code Terraform calls), taken from the Go
 * toolchain's vendored copy and built offline into a tiny program. Returns null when the toolchain lacks it.
 */
export async function goDirhash(work: string): Promise<((zipFile: string) => string) | null> {
  let goroot: string;
  try {
    goroot = execFileSync('go', ['env', 'GOROOT']).toString().trim();
  } catch {
    return null;
  }
  const src = join(goroot, 'src/cmd/vendor/golang.org/x/mod/sumdb/dirhash/hash.go');
  const dir = await mkdtemp(join(work, 'h1go-'));
  await mkdir(join(dir, 'dirhash'));
  try {
    await writeFile(join(dir, 'dirhash', 'hash.go'), await readFile(src));
  } catch {
    return null;
  }
  await writeFile(join(dir, 'go.mod'), 'module h1check\n\ngo 1.19\n');
  await writeFile(
    join(dir, 'main.go'),
    `package main

import (
	"fmt"
	"os"

	"h1check/dirhash"
)

func main() {
	h, err := dirhash.HashZip(os.Args[1], dirhash.Hash1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(h)
}
`,
  );
  execFileSync('go', ['build', '-o', 'h1', '.'], { cwd: dir, env: { ...process.env, GOPROXY: 'off', GOFLAGS: '-mod=mod', GOWORK: 'off' } });
  return (zipFile) => execFileSync(join(dir, 'h1'), [zipFile]).toString().trim();
}
