import { badRequest } from '../../errors.js';

/**
 * One package as APKINDEX lists it, by its one-letter field names (apk-tools' index writer order):
 * C checksum (Q1 + base64 SHA-1 of the control gzip member), P name, V version, A arch, S file size,
 * I installed size, T description, U url, L license, o origin, m maintainer, t build time, c commit,
 * k provider priority, D depends, p provides, i install_if.
 */
export type IndexRecord = Partial<Record<IndexField, string>> & { C: string; P: string; V: string };
export const INDEX_FIELDS = ['C', 'P', 'V', 'A', 'S', 'I', 'T', 'U', 'L', 'o', 'm', 't', 'c', 'k', 'D', 'p', 'i'] as const;
export type IndexField = (typeof INDEX_FIELDS)[number];

export const recordKey = (r: Pick<IndexRecord, 'P' | 'V'>) => `${r.P}-${r.V}`;

export function renderIndex(records: IndexRecord[]): Buffer {
  let out = '';
  for (const r of records) {
    for (const f of INDEX_FIELDS) {
      const v = r[f];
      if (v !== undefined && v !== '') out += `${f}:${v}\n`;
    }
    out += '\n';
  }
  return Buffer.from(out, 'utf8');
}

/** Records of an APKINDEX text; unknown fields are dropped, records without C/P/V refused. */
export function parseIndex(text: string): IndexRecord[] {
  const out: IndexRecord[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    if (!block.trim()) continue;
    const r: Partial<Record<IndexField, string>> = {};
    for (const line of block.split('\n')) {
      if (line.length < 2 || line[1] !== ':') continue;
      const f = line[0] as IndexField;
      if ((INDEX_FIELDS as readonly string[]).includes(f)) r[f] = line.slice(2);
    }
    if (!r.C || !r.P || !r.V) throw badRequest('INDEX_INVALID', 'APKINDEX record without C:, P: or V:');
    out.push(r as IndexRecord);
  }
  return out;
}
