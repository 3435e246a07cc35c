/**
 * The process entry point: parse the configuration (refusing to start on any problem, exit 1),
 * then run one instance, or WORKERS instances under node:cluster sharing the port.
 */
import cluster from 'node:cluster';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, describeError } from './logger.js';
import { startServer } from './server.js';

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) console.error(`relay: configuration error: ${problem}`);
      process.exit(1);
    }
    throw err;
  }
}

async function runInstance(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const server = await startServer(config, { log }).catch((err: Error) => {
    log.fatal({ err: describeError(err) }, 'failed to start');
    process.exit(1);
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function runPrimary(config: Config): void {
  const log = createLogger(config.logLevel);
  let stopping = false;
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('exit', (worker, code) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log.error({ pid: worker.process.pid, code }, 'worker exited; starting another');
    setTimeout(() => cluster.fork(), 1_000);
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const config = readConfig();
if (config.workers > 1 && cluster.isPrimary) runPrimary(config);
else void runInstance(config);
