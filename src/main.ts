#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { startApp } from './app.js';
import { describeError, runClientCommand, USAGE, UsageError } from './cli.js';
import { ConfigError, loadConfig } from './config.js';
import { rootLogger } from './log.js';

async function serve(): Promise<void> {
  const config = loadConfig();
  // Before anything allocates much: V8 reads these as it starts each collection.
  for (const flag of config.v8Flags) setFlagsFromString(flag);
  const app = await startApp(config, { log: rootLogger });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    rootLogger.info({ signal }, 'draining in-flight requests');
    app.stop(Number(process.env.ARTIFACTAPI_SHUTDOWN_GRACE_MS ?? 25_000)).then(
      () => process.exit(0),
      (err) => {
        rootLogger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [cmd = 'help'] = argv;
  switch (cmd) {
    case 'serve':
      return serve();
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stdout.write(await runClientCommand(argv));
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`artifactapi: configuration error: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof UsageError) {
    process.stderr.write(`artifactapi: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(`artifactapi: ${describeError(err)}\n`);
  process.exit(1);
});
