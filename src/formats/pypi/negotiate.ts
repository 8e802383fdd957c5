import { HttpError } from '../../errors.js';
import { HTML_TYPE, JSON_TYPE } from './simple-model.js';

export type Representation = { kind: 'json' | 'html'; contentType: string };

const OFFERS: Array<Representation & { match: RegExp }> = [
  { kind: 'json', contentType: JSON_TYPE, match: /^application\/vnd\.pypi\.simple\.v1\+json$/ },
  { kind: 'json', contentType: JSON_TYPE, match: /^application\/vnd\.pypi\.simple\.latest\+json$/ },
  { kind: 'html', contentType: HTML_TYPE, match: /^application\/vnd\.pypi\.simple\.v1\+html$/ },
  { kind: 'html', contentType: HTML_TYPE, match: /^application\/vnd\.pypi\.simple\.latest\+html$/ },
  { kind: 'html', contentType: 'text/html', match: /^text\/html$/ },
];

/**
 * PEP 691 content negotiation: the highest q-value among the types we serve; ties go to the client's order.
 * No Accept (or only wildcards) means HTML, what PEP 503 clients expect. Nothing acceptable → 406.
 */
export function negotiate(accept: string | undefined): Representation {
  if (!accept || !accept.trim()) return { kind: 'html', contentType: 'text/html' };
  let best: { rep: Representation; q: number } | undefined;
  for (const item of accept.split(',')) {
    const [type, ...params] = item.trim().toLowerCase().split(';');
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) q = Number(m[1]);
    }
    if (!(q > 0)) continue;
    const t = type!.trim();
    const rep = t === '*/*' || t === 'text/*' ? { kind: 'html' as const, contentType: 'text/html' } : OFFERS.find((o) => o.match.test(t));
    if (rep && (!best || q > best.q)) best = { rep: { kind: rep.kind, contentType: rep.contentType }, q };
  }
  if (!best) throw new HttpError(406, 'NOT_ACCEPTABLE', `no acceptable representation; this index serves ${JSON_TYPE}, ${HTML_TYPE} and text/html`);
  return best.rep;
}
