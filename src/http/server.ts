import { rootLogger, type Logger } from '../log.js';
import { startNode } from './node-engine.js';
import type { EngineName, RunningServer, ServerOptions } from './types.js';
import { startUws } from './uws-engine.js';

export function engineFromEnv(env: NodeJS.ProcessEnv = process.env): EngineName {
  const v = (env.ARTIFACTAPI_HTTP_ENGINE || 'uws').toLowerCase();
  if (v !== 'uws' && v !== 'node') throw new Error(`ARTIFACTAPI_HTTP_ENGINE must be "uws" or "node", got "${v}"`);
  return v;
}

/** Start the chosen engine; both implement the same HttpRequest/HttpResponse API. */
export function startServer(engine: EngineName, opts: ServerOptions, log: Logger = rootLogger): Promise<RunningServer> {
  return engine === 'uws' ? startUws(opts, log) : startNode(opts, log);
}
