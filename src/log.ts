import { pino, type Logger } from 'pino';

export type { Logger };

/** Root logger. JSON to stdout; level from LOG_LEVEL (tests default to silent). */
export function createLogger(level = process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info')): Logger {
  return pino({ level, base: { svc: 'artifactapi' } });
}

export const rootLogger: Logger = createLogger();
