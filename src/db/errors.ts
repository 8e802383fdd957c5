/** SQLSTATE codes callers branch on; both drivers expose the server's code as `err.code`. */
export const SQLSTATE = {
  UNIQUE_VIOLATION: '23505',
  FOREIGN_KEY_VIOLATION: '23503',
  CHECK_VIOLATION: '23514',
  NOT_NULL_VIOLATION: '23502',
} as const;

/** The SQLSTATE of a database error from either driver, or undefined for anything else. */
export function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export const isUniqueViolation = (err: unknown): boolean => sqlState(err) === SQLSTATE.UNIQUE_VIOLATION;
export const isForeignKeyViolation = (err: unknown): boolean => sqlState(err) === SQLSTATE.FOREIGN_KEY_VIOLATION;

/** The database cannot be used by this build (bad configuration, schema newer than the code). */
export class DatabaseSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseSetupError';
  }
}
