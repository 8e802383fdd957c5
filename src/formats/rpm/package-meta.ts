import { badRequest } from '../../errors.js';
import type { ParsedRpm, RpmHeader } from './header.js';
import { rpmvercmp } from './vercmp.js';

/** Header tags (rpm's rpmtag.h) the repodata needs. */
const T = {
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  SUMMARY: 1004,
  DESCRIPTION: 1005,
  BUILDTIME: 1006,
  BUILDHOST: 1007,
  SIZE: 1009,
  VENDOR: 1011,
  LICENSE: 1014,
  PACKAGER: 1015,
  GROUP: 1016,
  URL: 1020,
  ARCH: 1022,
  OLDFILENAMES: 1027,
  FILEMODES: 1030,
  FILEFLAGS: 1037,
  SOURCERPM: 1044,
  ARCHIVESIZE: 1046,
  PROVIDENAME: 1047,
  REQUIREFLAGS: 1048,
  REQUIRENAME: 1049,
  REQUIREVERSION: 1050,
  CONFLICTFLAGS: 1053,
  CONFLICTNAME: 1054,
  CONFLICTVERSION: 1055,
  CHANGELOGTIME: 1080,
  CHANGELOGNAME: 1081,
  CHANGELOGTEXT: 1082,
  OBSOLETENAME: 1090,
  SOURCEPACKAGE: 1106,
  PROVIDEFLAGS: 1112,
  PROVIDEVERSION: 1113,
  OBSOLETEFLAGS: 1114,
  OBSOLETEVERSION: 1115,
  DIRINDEXES: 1116,
  BASENAMES: 1117,
  DIRNAMES: 1118,
  LONGARCHIVESIZE: 271,
  LONGSIZE: 5009,
  RECOMMENDNAME: 5046,
  RECOMMENDVERSION: 5047,
  RECOMMENDFLAGS: 5048,
  SUGGESTNAME: 5049,
  SUGGESTVERSION: 5050,
  SUGGESTFLAGS: 5051,
  SUPPLEMENTNAME: 5052,
  SUPPLEMENTVERSION: 5053,
  SUPPLEMENTFLAGS: 5054,
  ENHANCENAME: 5055,
  ENHANCEVERSION: 5056,
  ENHANCEFLAGS: 5057,
} as const;

/** Signature header tag of the uncompressed payload size (RPMSIGTAG_PAYLOADSIZE). */
const SIG_PAYLOADSIZE = 1007;

const RPMSENSE_PREREQ = 1 << 6;
const RPMSENSE_SCRIPT_PRE = 1 << 9;
const RPMSENSE_SCRIPT_POST = 1 << 10;
const RPMSENSE_MISSINGOK = 1 << 19;
const RPMFILE_GHOST = 1 << 6;
const CHANGELOG_LIMIT = 10;

/** One dependency as repodata writes it (createrepo_c's cr_Dependency). */
export interface RpmDep {
  name: string;
  flags?: string;
  epoch?: string;
  ver?: string;
  rel?: string;
  pre?: boolean;
}

export interface RpmFile {
  path: string;
  type?: 'dir' | 'ghost';
}

export interface RpmChangelog {
  author: string;
  date: number;
  text: string;
}

export const DEP_KINDS = ['provides', 'requires', 'conflicts', 'obsoletes', 'suggests', 'enhances', 'recommends', 'supplements'] as const;
export type DepKind = (typeof DEP_KINDS)[number];

/** What an uploaded rpm keeps in its metadata: everything repodata needs, read once from its headers. */
export interface RpmPackage {
  name: string;
  epoch: string;
  version: string;
  release: string;
  arch: string;
  summary: string;
  description: string;
  url: string;
  license: string;
  vendor: string;
  group: string;
  buildhost: string;
  sourcerpm: string;
  packager: string;
  buildtime: number;
  installedSize: number;
  archiveSize: number;
  headerStart: number;
  headerEnd: number;
  deps: Partial<Record<DepKind, RpmDep[]>>;
  files: RpmFile[];
  /** In repodata order (oldest of the kept entries first), createrepo_c's default limit of 10. */
  changelogs: RpmChangelog[];
}

/** createrepo_c's cr_flag_to_str: the comparison bits only. */
function flagString(flags: number): string | undefined {
  switch (flags & 0xf) {
    case 2:
      return 'LT';
    case 4:
      return 'GT';
    case 8:
      return 'EQ';
    case 10:
      return 'LE';
    case 12:
      return 'GE';
    default:
      return undefined;
  }
}

/** createrepo_c's cr_str_to_evr: `[E:]V[-R]`, epoch 0 when absent; null for a non-numeric epoch. */
export function splitEvr(evr: string): { epoch?: string; ver?: string; rel?: string } | null {
  if (!evr) return {};
  let rest = evr;
  let epoch = '0';
  const colon = evr.indexOf(':');
  if (colon >= 0) {
    const e = evr.slice(0, colon);
    if (!/^[0-9]+$/.test(e)) return null;
    epoch = e;
    rest = evr.slice(colon + 1);
  }
  const dash = rest.indexOf('-');
  return dash >= 0 ? { epoch, ver: rest.slice(0, dash), rel: rest.slice(dash + 1) } : { epoch, ver: rest };
}

/** createrepo_c's cr_is_primary: files that go into primary.xml (the rest only into filelists.xml). */
export function isPrimaryFile(path: string): boolean {
  return path.startsWith('/etc/') || path === '/usr/lib/sendmail' || path.includes('bin/');
}

/** libc.so.6 requires: only the highest symbol version is kept (createrepo_c's cr_compare_dependency). */
function libcVersion(name: string): string | undefined {
  const open = name.indexOf('(');
  if (open < 0) return undefined;
  const close = name.indexOf(')', open);
  if (close < 0) return undefined;
  const inner = name.slice(open + 1, close);
  const digit = inner.search(/[0-9]/);
  return digit < 0 ? undefined : inner.slice(digit);
}

function libcHigher(current: string, candidate: string): boolean {
  const a = libcVersion(current);
  const b = libcVersion(candidate);
  if (b === undefined) return false;
  if (a === undefined) return true;
  return rpmvercmp(a, b) < 0;
}

function files(h: RpmHeader): RpmFile[] {
  const modes = h.numbers(T.FILEMODES);
  const flags = h.numbers(T.FILEFLAGS);
  let paths: string[];
  const basenames = h.strings(T.BASENAMES);
  if (basenames.length > 0) {
    const dirs = h.strings(T.DIRNAMES);
    const idx = h.numbers(T.DIRINDEXES);
    if (idx.length !== basenames.length) throw badRequest('RPM_INVALID', 'not a valid rpm package: file list tags disagree');
    paths = basenames.map((b, i) => {
      const d = dirs[idx[i]!];
      if (d === undefined) throw badRequest('RPM_INVALID', 'not a valid rpm package: file directory index out of range');
      return d + b;
    });
  } else {
    paths = h.strings(T.OLDFILENAMES);
  }
  return paths.map((path, i) => {
    const mode = modes[i] ?? 0;
    if ((mode & 0o170000) === 0o040000) return { path, type: 'dir' };
    if ((flags[i] ?? 0) & RPMFILE_GHOST) return { path, type: 'ghost' };
    return { path };
  });
}

interface DepTags {
  kind: DepKind;
  name: number;
  flags: number;
  version: number;
}

/** createrepo_c's dep_items order: provides first (requires are filtered against them). */
const DEP_TAGS: DepTags[] = [
  { kind: 'provides', name: T.PROVIDENAME, flags: T.PROVIDEFLAGS, version: T.PROVIDEVERSION },
  { kind: 'conflicts', name: T.CONFLICTNAME, flags: T.CONFLICTFLAGS, version: T.CONFLICTVERSION },
  { kind: 'obsoletes', name: T.OBSOLETENAME, flags: T.OBSOLETEFLAGS, version: T.OBSOLETEVERSION },
  { kind: 'requires', name: T.REQUIRENAME, flags: T.REQUIREFLAGS, version: T.REQUIREVERSION },
  { kind: 'suggests', name: T.SUGGESTNAME, flags: T.SUGGESTFLAGS, version: T.SUGGESTVERSION },
  { kind: 'enhances', name: T.ENHANCENAME, flags: T.ENHANCEFLAGS, version: T.ENHANCEVERSION },
  { kind: 'recommends', name: T.RECOMMENDNAME, flags: T.RECOMMENDFLAGS, version: T.RECOMMENDVERSION },
  { kind: 'supplements', name: T.SUPPLEMENTNAME, flags: T.SUPPLEMENTFLAGS, version: T.SUPPLEMENTVERSION },
];

/** Dependencies filtered the way createrepo_c does, so generated primary.xml matches its output. */
function dependencies(h: RpmHeader, fileSet: ReadonlySet<string>): Partial<Record<DepKind, RpmDep[]>> {
  const out: Partial<Record<DepKind, RpmDep[]>> = {};
  const provided = new Set<string>();
  const seenRequires = new Map<string, { flags: string; version: string; pre: boolean }>();
  for (const t of DEP_TAGS) {
    const names = h.strings(t.name);
    if (names.length === 0) continue;
    const flagsArr = h.numbers(t.flags);
    const versions = h.strings(t.version);
    const list: RpmDep[] = [];
    let libc: RpmDep | undefined;
    for (let i = 0; i < names.length && i < flagsArr.length && i < versions.length; i++) {
      const name = names[i]!;
      const num = flagsArr[i]!;
      const flags = flagString(num);
      const full = versions[i]!;
      const nfv = `${name}${flags ?? ''}${full}`;
      let pre = false;
      if (t.kind === 'requires') {
        if (name.startsWith('rpmlib(')) continue;
        if (name.startsWith('/') && fileSet.has(name) && isPrimaryFile(name)) continue;
        if (provided.has(nfv)) continue;
        pre = (num & (RPMSENSE_PREREQ | RPMSENSE_SCRIPT_PRE | RPMSENSE_SCRIPT_POST)) !== 0;
        const seen = seenRequires.get(name);
        if (seen && seen.flags === (flags ?? '') && seen.version === full && seen.pre === pre) continue;
      }
      const evr = splitEvr(full);
      if (evr === null) continue; // createrepo_c skips a dependency with a non-numeric epoch
      const dep: RpmDep = { name, ...(flags ? { flags } : {}), ...evr };
      if (t.kind === 'provides') provided.add(nfv);
      if (t.kind === 'requires') {
        if (num & RPMSENSE_MISSINGOK) {
          (out.recommends ??= []).push(dep);
          continue;
        }
        if (pre) dep.pre = true;
        if (name.startsWith('libc.so.6')) {
          if (!libc || libcHigher(libc.name, name)) libc = dep;
          continue;
        }
        seenRequires.set(name, { flags: flags ?? '', version: full, pre });
      }
      list.push(dep);
    }
    if (libc) list.push(libc);
    if (list.length > 0) out[t.kind] = [...(out[t.kind] ?? []), ...list];
  }
  return out;
}

/** The newest CHANGELOG_LIMIT entries, oldest first, equal dates made distinct as createrepo_c does. */
function changelogs(h: RpmHeader): RpmChangelog[] {
  const times = h.numbers(T.CHANGELOGTIME);
  const names = h.strings(T.CHANGELOGNAME);
  const texts = h.strings(T.CHANGELOGTEXT);
  const out: RpmChangelog[] = [];
  let last = 0;
  for (let i = 0; i < times.length && i < names.length && i < texts.length && i < CHANGELOG_LIMIT; i++) {
    const date = times[i]!;
    out.unshift({ author: names[i]!.replace(/ +$/, ''), date, text: texts[i]! });
    if (last === date) {
      let t = date;
      for (let k = 1; k < out.length && out[k]!.date === t; k++) {
        out[k]!.date++;
        t++;
      }
    } else {
      last = date;
    }
  }
  return out;
}

function required(h: RpmHeader, tag: number, what: string): string {
  const v = h.string(tag);
  if (!v) throw badRequest('RPM_INVALID', `not a valid rpm package: no ${what} in its header`);
  return v;
}

/** Everything repodata needs from a parsed rpm. */
export function packageFromHeaders(rpm: ParsedRpm): RpmPackage {
  const h = rpm.main;
  const s = rpm.signature;
  const fileList = files(h);
  const name = required(h, T.NAME, 'NAME');
  const version = required(h, T.VERSION, 'VERSION');
  const release = required(h, T.RELEASE, 'RELEASE');
  const arch = h.has(T.SOURCEPACKAGE) ? 'src' : required(h, T.ARCH, 'ARCH');
  for (const [what, v] of [['NAME', name], ['VERSION', version], ['RELEASE', release], ['ARCH', arch]] as const) {
    if (/[\s/]/.test(v) || v.length > 255) throw badRequest('RPM_INVALID', `not a valid rpm package: ${what} "${v}" is not usable in a file name`);
  }
  return {
    name,
    epoch: String(h.number(T.EPOCH) ?? 0),
    version,
    release,
    arch,
    summary: h.string(T.SUMMARY) ?? '',
    description: h.string(T.DESCRIPTION) ?? '',
    url: h.string(T.URL) ?? '',
    license: h.string(T.LICENSE) ?? '',
    vendor: h.string(T.VENDOR) ?? '',
    group: h.string(T.GROUP) ?? '',
    buildhost: h.string(T.BUILDHOST) ?? '',
    sourcerpm: h.string(T.SOURCERPM) ?? '',
    packager: h.string(T.PACKAGER) ?? '',
    buildtime: h.number(T.BUILDTIME) ?? 0,
    installedSize: h.number(T.LONGSIZE) ?? h.number(T.SIZE) ?? 0,
    archiveSize: s.number(T.LONGARCHIVESIZE) ?? s.number(SIG_PAYLOADSIZE) ?? h.number(T.LONGARCHIVESIZE) ?? h.number(T.ARCHIVESIZE) ?? 0,
    headerStart: rpm.headerStart,
    headerEnd: rpm.headerEnd,
    deps: dependencies(h, new Set(fileList.map((f) => f.path))),
    files: fileList,
    changelogs: changelogs(h),
  };
}

/** The conventional file name rpmbuild gives a package: `{name}-{version}-{release}.{arch}.rpm`. */
export function canonicalFileName(p: Pick<RpmPackage, 'name' | 'version' | 'release' | 'arch'>): string {
  return `${p.name}-${p.version}-${p.release}.${p.arch}.rpm`;
}
