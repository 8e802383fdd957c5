import type { Queryable } from './types.js';

export async function getSetting(q: Queryable, key: string): Promise<string | null> {
  const [row] = await q.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]);
  return row?.value ?? null;
}

export async function setSetting(q: Queryable, key: string, value: string): Promise<void> {
  await q.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [key, value]);
}
