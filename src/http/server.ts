import { rootLogger, type Logger } from '../log.js';
import { startNode } from './node-engine.js';
import type { EngineName, RunningServer, ServerOptions } from './types.js';
import { startUws, UWS_CONTENT_LENGTH_LIMIT, UWS_KNOWN_DEFECT } from './uws-engine.js';

export const ENGINE_NAMES: readonly EngineName[] = ['uws', 'node'];

/** The engine named by ARTIFACTAPI_HTTP_ENGINE (`uws` when unset or empty); anything else is a start-up error. */
export function engineFromEnv(env: NodeJS.ProcessEnv = process.env): EngineName {
  const raw = env.ARTIFACTAPI_HTTP_ENGINE?.trim() ?? '';
  if (raw === '') return 'uws';
  const v = raw.toLowerCase();
  if (v !== 'uws' && v !== 'node') throw new Error(`ARTIFACTAPI_HTTP_ENGINE must be "uws" or "node", got "${raw}"`);
  return v;
}

/**
 * Start the chosen engine; both implement the same HttpRequest/HttpResponse API. Port 0 picks a free port;
 * `RunningServer.port` is the real one.
 */
export function startServer(engine: EngineName, opts: ServerOptions, log: Logger = rootLogger): Promise<RunningServer> {
  switch (engine) {
    case 'uws':
      log.warn({ contentLengthLimit: UWS_CONTENT_LENGTH_LIMIT }, UWS_KNOWN_DEFECT);
      return startUws(opts, log);
    case 'node':
      return startNode(opts, log);
    default:
      throw new Error(`unknown HTTP engine "${String(engine)}"`);
  }
}
