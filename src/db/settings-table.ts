import type { Queryable } from './types.js';

/** Server-wide key/value settings (admin token hash, instance id, ...). */
export async function getSetting(q: Queryable, key: string): Promise<string | null> {
  const [row] = await q.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]);
  return row?.value ?? null;
}

export async function setSetting(q: Queryable, key: string, value: string): Promise<void> {
  await q.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [key, value]);
}

/** Insert only if absent; returns the value now stored (yours, or the one another replica set first). */
export async function setSettingIfAbsent(q: Queryable, key: string, value: string): Promise<string> {
  await q.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, value]);
  return (await getSetting(q, key)) ?? value;
}

export async function deleteSetting(q: Queryable, key: string): Promise<boolean> {
  return (await q.query('DELETE FROM settings WHERE key = $1 RETURNING key', [key])).length > 0;
}
