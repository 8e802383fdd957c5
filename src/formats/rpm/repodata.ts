import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { DEP_KINDS, isPrimaryFile, type RpmDep, type RpmFile, type RpmPackage } from './package-meta.js';
import { attr, text } from './xml.js';

const gzip = promisify(gzipCb);

/** One package as the repodata lists it: its header data plus what the stored file adds. */
export interface RepoPackage {
  pkg: RpmPackage;
  /** Relative to the repository root, as the client requests it. */
  href: string;
  sha256: string;
  size: number;
  /** Seconds; createrepo_c uses the file's mtime, we use when it was stored. */
  fileTime: number;
}

const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

function el(indent: string, name: string, value: string): string {
  return `${indent}<${name}>${text(value)}</${name}>\n`;
}

function versionEl(p: RpmPackage): string {
  return `  <version epoch="${attr(p.epoch)}" ver="${attr(p.version)}" rel="${attr(p.release)}"/>\n`;
}

function depEntry(kind: string, d: RpmDep): string {
  let s = `      <rpm:entry name="${attr(d.name)}"`;
  if (d.flags) {
    s += ` flags="${d.flags}"`;
    if (d.epoch) s += ` epoch="${attr(d.epoch)}"`;
    if (d.ver) s += ` ver="${attr(d.ver)}"`;
    if (d.rel) s += ` rel="${attr(d.rel)}"`;
  }
  if (kind === 'requires' && d.pre) s += ' pre="1"';
  return `${s}/>\n`;
}

function fileEl(indent: string, f: RpmFile): string {
  return `${indent}<file${f.type ? ` type="${f.type}"` : ''}>${text(f.path)}</file>\n`;
}

/** One `<package>` of primary.xml, laid out as createrepo_c writes it. */
export function primaryPackage(r: RepoPackage): string {
  const p = r.pkg;
  let s = '<package type="rpm">\n';
  s += el('  ', 'name', p.name);
  s += el('  ', 'arch', p.arch);
  s += versionEl(p);
  s += `  <checksum type="sha256" pkgid="YES">${r.sha256}</checksum>\n`;
  s += el('  ', 'summary', p.summary);
  s += el('  ', 'description', p.description);
  s += el('  ', 'packager', p.packager);
  s += el('  ', 'url', p.url);
  s += `  <time file="${r.fileTime}" build="${p.buildtime}"/>\n`;
  s += `  <size package="${r.size}" installed="${p.installedSize}" archive="${p.archiveSize}"/>\n`;
  s += `  <location href="${attr(r.href)}"/>\n`;
  s += '  <format>\n';
  s += el('    ', 'rpm:license', p.license);
  s += el('    ', 'rpm:vendor', p.vendor);
  s += el('    ', 'rpm:group', p.group);
  s += el('    ', 'rpm:buildhost', p.buildhost);
  s += el('    ', 'rpm:sourcerpm', p.sourcerpm);
  s += `    <rpm:header-range start="${p.headerStart}" end="${p.headerEnd}"/>\n`;
  for (const kind of DEP_KINDS) {
    const deps = p.deps[kind]?.filter((d) => d.name !== '');
    if (!deps?.length) continue;
    s += `    <rpm:${kind}>\n${deps.map((d) => depEntry(kind, d)).join('')}    </rpm:${kind}>\n`;
  }
  for (const f of p.files) if (isPrimaryFile(f.path)) s += fileEl('    ', f);
  return `${s}  </format>\n</package>\n`;
}

function pkgIdAttrs(r: RepoPackage): string {
  return `pkgid="${r.sha256}" name="${attr(r.pkg.name)}" arch="${attr(r.pkg.arch)}"`;
}

export function filelistsPackage(r: RepoPackage): string {
  return `<package ${pkgIdAttrs(r)}>\n${versionEl(r.pkg)}${r.pkg.files.map((f) => fileEl('  ', f)).join('')}</package>\n`;
}

export function otherPackage(r: RepoPackage): string {
  const logs = r.pkg.changelogs.map((c) => `  <changelog author="${attr(c.author)}" date="${c.date}">${text(c.text)}</changelog>\n`).join('');
  return `<package ${pkgIdAttrs(r)}>\n${versionEl(r.pkg)}${logs}</package>\n`;
}

export type RepodataType = 'primary' | 'filelists' | 'other';

const ROOTS: Record<RepodataType, { open: (n: number) => string; close: string; render: (r: RepoPackage) => string }> = {
  primary: {
    open: (n) => `<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="${n}">\n`,
    close: '</metadata>',
    render: primaryPackage,
  },
  filelists: { open: (n) => `<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="${n}">\n`, close: '</filelists>', render: filelistsPackage },
  other: { open: (n) => `<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="${n}">\n`, close: '</otherdata>', render: otherPackage },
};

/** Build the uncompressed XML of one repodata file. */
export function repodataXml(type: RepodataType, packages: RepoPackage[]): Buffer {
  const root = ROOTS[type];
  const parts: Buffer[] = [Buffer.from(XML_DECL + root.open(packages.length))];
  for (const r of packages) parts.push(Buffer.from(root.render(r)));
  parts.push(Buffer.from(root.close));
  return Buffer.concat(parts);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface RepodataSet {
  /** `repodata/repomd.xml` and the checksum-named files it lists, by path. */
  files: Map<string, Buffer>;
  repomd: Buffer;
}

/**
 * repomd.xml plus `{sha256}-{type}.xml.gz` for primary, filelists and other. Deterministic: the same packages
 * and `timestamp` give the same bytes on every replica (gzip headers carry no time).
 */
export async function buildRepodata(packages: RepoPackage[], timestamp: number): Promise<RepodataSet> {
  const files = new Map<string, Buffer>();
  let repomd = `${XML_DECL}<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">\n  <revision>${timestamp}</revision>\n`;
  for (const type of ['primary', 'filelists', 'other'] as const) {
    const xml = repodataXml(type, packages);
    const gz = await gzip(xml, { level: 9 });
    const sum = sha256(gz);
    const href = `repodata/${sum}-${type}.xml.gz`;
    files.set(href, gz);
    repomd +=
      `  <data type="${type}">\n` +
      `    <checksum type="sha256">${sum}</checksum>\n` +
      `    <open-checksum type="sha256">${sha256(xml)}</open-checksum>\n` +
      `    <location href="${href}"/>\n` +
      `    <timestamp>${timestamp}</timestamp>\n` +
      `    <size>${gz.length}</size>\n` +
      `    <open-size>${xml.length}</open-size>\n` +
      '  </data>\n';
  }
  const body = Buffer.from(`${repomd}</repomd>\n`);
  files.set('repodata/repomd.xml', body);
  return { files, repomd: body };
}
