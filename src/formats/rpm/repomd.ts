import { attributes, unescapeXml } from './xml.js';

/** One `<data>` entry of repomd.xml. */
export interface RepomdEntry {
  type: string;
  href: string;
  checksum?: { type: string; value: string };
  size?: number;
}

/**
 * The `<data>` entries of an upstream repomd.xml. Entries whose location sets `xml:base` (files on another host)
 * or climbs out of the repository are left out: this repository never fetches them.
 */
export function parseRepomd(xml: string): RepomdEntry[] {
  if (!/<repomd[\s>]/.test(xml)) throw new Error('no <repomd> root element');
  const out: RepomdEntry[] = [];
  for (const m of xml.matchAll(/<data\b([^>]*)>([\s\S]*?)<\/data>/g)) {
    const type = attributes(m[1]!).get('type') ?? '';
    const body = m[2]!;
    const loc = /<location\b([^>]*)\/?>/.exec(body);
    if (!loc) continue;
    const la = attributes(loc[1]!);
    const href = la.get('href');
    if (!href || la.has('xml:base') || !safeRelative(href)) continue;
    const entry: RepomdEntry = { type, href };
    const sum = /<checksum\b([^>]*)>([^<]*)<\/checksum>/.exec(body);
    if (sum) entry.checksum = { type: (attributes(sum[1]!).get('type') ?? '').toLowerCase(), value: unescapeXml(sum[2]!).trim().toLowerCase() };
    const size = /<size>\s*(\d+)\s*<\/size>/.exec(body);
    if (size) entry.size = Number(size[1]);
    out.push(entry);
  }
  return out;
}

/** A relative href that stays inside the repository (no scheme, no absolute path, no `.`/`..` segments). */
export function safeRelative(href: string): boolean {
  if (href === '' || href.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(href) || href.includes('\\')) return false;
  return href.split('/').every((s) => s !== '' && s !== '.' && s !== '..' && !/[\u0000-\u001f?#]/.test(s));
}
