import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Terraform is not in Debian: these helpers build real provider packages (zip(1), or Python's zipfile for other
 * layouts), hash them with an independent implementation of Terraform's `h1:` (Python, dirhash.HashZip semantics),
 * sign and verify with GnuPG (the reference OpenPGP implementation), lay out a static provider registry, and follow the
 * network mirror and provider registry protocols the way Terraform's provider installer does.
 */

export interface ProviderZip {
  file: string;
  bytes: Buffer;
  zh: string;
  h1: string;
  type: string;
  version: string;
  os: string;
  arch: string;
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
  return { file: out, bytes, zh: createHash('sha256').update(bytes).digest('hex'), h1: pythonH1(out), type, version, os, arch };
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

// ---------------------------------------------------------------------------------------------------------------
// OpenPGP with GnuPG

export interface GpgKey {
  /** The public key block, as a registry lists it in `signing_keys`. */
  armor: string;
  /** Fingerprint of the key that signs (the signing subkey when there is one). */
  signingFingerprint: string;
  /** A binary detached signature, as `gpg --detach-sign` makes for SHA256SUMS. */
  sign(data: Buffer): Promise<Buffer>;
  /** Stop the gpg-agent this key's home started. */
  close(): void;
}

const gpgArgs = (home: string) => ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', ''];

/** A new key made by gpg: `primary` (e.g. rsa2048, ed25519, nistp256, dsa2048), optionally with a signing subkey. */
export async function gpgKey(work: string, primary: string, signingSubkey?: string): Promise<GpgKey> {
  const home = await mkdtemp(join(work, 'gnupg-'));
  const gpg = (...args: string[]) => execFileSync('gpg', [...gpgArgs(home), ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  gpg('--quick-gen-key', `Test ${primary} <${primary}@registry.example.test>`, primary, signingSubkey ? 'cert' : 'sign', 'never');
  const fprs = () => gpg('--list-keys', '--with-colons').split('\n').filter((l) => l.startsWith('fpr:')).map((l) => l.split(':')[9]!);
  const primaryFpr = fprs()[0]!;
  if (signingSubkey) gpg('--quick-add-key', primaryFpr, signingSubkey, 'sign', 'never');
  const all = fprs();
  return {
    armor: gpg('--armor', '--export'),
    signingFingerprint: all[all.length - 1]!,
    async sign(data) {
      const dir = await mkdtemp(join(work, 'sign-'));
      await writeFile(join(dir, 'doc'), data);
      gpg('--detach-sign', '-o', join(dir, 'doc.sig'), join(dir, 'doc'));
      return readFile(join(dir, 'doc.sig'));
    },
    close: () => void execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']),
  };
}

/** gpg --verify in a fresh keyring holding only `armors`; returns the fingerprint of the key that signed, or throws. */
export async function gpgVerify(armors: string[], doc: Buffer, sig: Buffer, work: string): Promise<string> {
  const home = await mkdtemp(join(work, 'gpgv-'));
  for (const a of armors) execFileSync('gpg', ['--homedir', home, '--batch', '--import'], { input: a, stdio: ['pipe', 'pipe', 'pipe'] });
  await writeFile(join(home, 'doc'), doc);
  await writeFile(join(home, 'doc.sig'), sig);
  const status = execFileSync('gpg', ['--homedir', home, '--batch', '--status-fd', '1', '--verify', join(home, 'doc.sig'), join(home, 'doc')], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const valid = status.split('\n').find((l) => l.startsWith('[GNUPG:] VALIDSIG '));
  if (!valid) throw new Error(`gpg did not report a valid signature:\n${status}`);
  return valid.split(' ')[2]!;
}

// ---------------------------------------------------------------------------------------------------------------
// A static provider registry (what registry.terraform.io and releases.hashicorp.com answer, as files for nginx)

export interface RegistryRelease {
  namespace: string;
  type: string;
  version: string;
  packages: ProviderZip[];
  key: GpgKey;
  /** Serve these bytes instead of the archive of this platform (`os_arch`): SHA256SUMS no longer matches it. */
  tamper?: { platform: string; bytes: Buffer };
  /** Change SHA256SUMS after signing it: the signature no longer verifies. */
  breakSignature?: boolean;
}

/**
 * Writes a registry under `root` served at `baseUrl`: `.well-known/terraform.json`, `v1/providers/{ns}/{type}/versions`,
 * one download document per platform, and the release files (archives, SHA256SUMS, SHA256SUMS.sig) under `releases/`,
 * named by absolute URLs (archive, signature) and by an absolute path (SHA256SUMS), which the client resolves.
 */
export async function writeRegistry(root: string, baseUrl: string, releases: RegistryRelease[]): Promise<void> {
  await mkdir(join(root, '.well-known'), { recursive: true });
  await writeFile(join(root, '.well-known', 'terraform.json'), JSON.stringify({ 'modules.v1': '/v1/modules/', 'providers.v1': '/v1/providers/' }));
  const versions = new Map<string, object[]>();
  const put = async (path: string, body: Buffer | string) => {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), body);
  };
  for (const r of releases) {
    const rel = `releases/terraform-provider-${r.type}/${r.version}`;
    const name = `terraform-provider-${r.type}_${r.version}`;
    let sums = r.packages.map((p) => `${p.zh}  ${name}_${p.os}_${p.arch}.zip\n`).sort().join('');
    const sig = await r.key.sign(Buffer.from(sums));
    if (r.breakSignature) sums += `${'0'.repeat(64)}  ${name}_plan9_amd64.zip\n`;
    await put(`${rel}/${name}_SHA256SUMS`, sums);
    await put(`${rel}/${name}_SHA256SUMS.sig`, sig);
    for (const p of r.packages) {
      const file = `${name}_${p.os}_${p.arch}.zip`;
      await put(`${rel}/${file}`, r.tamper?.platform === `${p.os}_${p.arch}` ? r.tamper.bytes : p.bytes);
      const doc = {
        protocols: ['5.0'],
        os: p.os,
        arch: p.arch,
        filename: file,
        download_url: `${baseUrl}/${rel}/${file}`,
        shasums_url: `/${rel}/${name}_SHA256SUMS`,
        shasums_signature_url: `${baseUrl}/${rel}/${name}_SHA256SUMS.sig`,
        shasum: p.zh,
        signing_keys: { gpg_public_keys: [{ key_id: r.key.signingFingerprint.slice(-16), ascii_armor: r.key.armor, trust_signature: '', source: 'Test', source_url: null }] },
      };
      await put(`v1/providers/${r.namespace}/${r.type}/${r.version}/download/${p.os}/${p.arch}`, JSON.stringify(doc));
    }
    const key = `${r.namespace}/${r.type}`;
    versions.set(key, [...(versions.get(key) ?? []), { version: r.version, protocols: ['5.0'], platforms: r.packages.map((p) => ({ os: p.os, arch: p.arch })) }]);
  }
  for (const [key, list] of versions) await put(`v1/providers/${key}/versions`, JSON.stringify({ versions: list }));
}

// ---------------------------------------------------------------------------------------------------------------
// Terraform's provider registry client

async function get(url: string): Promise<Buffer> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Service discovery: the `providers.v1` URL of `{base}/.well-known/terraform.json`, resolved against it. */
export async function discoverProviders(base: string): Promise<string> {
  const url = `${base.replace(/\/+$/, '')}/.well-known/terraform.json`;
  const doc = JSON.parse((await get(url)).toString()) as Record<string, unknown>;
  if (typeof doc['providers.v1'] !== 'string') throw new Error(`${url} names no providers.v1`);
  return new URL(doc['providers.v1'], url).href;
}

export interface DownloadDocument {
  protocols: string[];
  os: string;
  arch: string;
  filename: string;
  download_url: string;
  shasums_url: string;
  shasums_signature_url: string;
  shasum: string;
  signing_keys: { gpg_public_keys: { key_id: string; ascii_armor: string }[] };
}

export interface RegistryInstall {
  doc: DownloadDocument;
  /** The three URLs of the download document, resolved against it. */
  urls: { archive: string; shasums: string; signature: string };
  bytes: Buffer;
  /** Fingerprint of the key gpg found the SHA256SUMS signed with. */
  signedBy: string;
  h1: string;
  /** What `terraform init` records in the lock file from SHA256SUMS: a zh: hash per listed archive. */
  zh: string[];
}

/**
 * What `terraform init` does with a provider registry (internal/getproviders/registry_client.go): versions, the
 * platform's download document, SHA256SUMS and its signature (must list the document's filename with its shasum and
 * verify against one of its signing keys: checked here with gpg), then the archive, whose sha256 must be the shasum.
 */
export async function registryInstall(providersV1: string, namespace: string, type: string, version: string, os: string, arch: string, work: string): Promise<RegistryInstall> {
  const base = new URL(`${namespace}/${type}/`, providersV1);
  const versions = JSON.parse((await get(new URL('versions', base).href)).toString()) as { versions: { version: string }[] };
  if (!versions.versions.some((v) => v.version === version)) throw new Error(`version ${version} not offered`);
  const docUrl = new URL(`${version}/download/${os}/${arch}`, base).href;
  const doc = JSON.parse((await get(docUrl)).toString()) as DownloadDocument;
  if (doc.os !== os || doc.arch !== arch) throw new Error(`download document is for ${doc.os}_${doc.arch}`);
  const urls = { archive: new URL(doc.download_url, docUrl).href, shasums: new URL(doc.shasums_url, docUrl).href, signature: new URL(doc.shasums_signature_url, docUrl).href };
  for (const u of Object.values(urls)) if (!/^https?:/.test(u)) throw new Error(`${u} is not http(s)`);
  const shasums = await get(urls.shasums);
  const signature = await get(urls.signature);
  const lines = shasums.toString().split('\n').filter(Boolean).map((l) => l.split(/\s+/) as [string, string]);
  if (!lines.some(([h, f]) => f === doc.filename && h === doc.shasum)) throw new Error(`SHA256SUMS does not list ${doc.filename} with ${doc.shasum}`);
  const signedBy = await gpgVerify(doc.signing_keys.gpg_public_keys.map((k) => k.ascii_armor), shasums, signature, work);
  const bytes = await get(urls.archive);
  if (createHash('sha256').update(bytes).digest('hex') !== doc.shasum) throw new Error(`archive ${urls.archive} does not match its shasum`);
  const file = join(await mkdtemp(join(work, 'reg-')), doc.filename);
  await writeFile(file, bytes);
  return { doc, urls, bytes, signedBy, h1: pythonH1(file), zh: lines.map(([h]) => `zh:${h}`) };
}
