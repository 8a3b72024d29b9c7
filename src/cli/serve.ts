import { ConfigError, loadConfig } from '../config.js';
import { exitOnSignals, startServer } from '../main.js';

/** `kvs serve [--flag value ...]`: runs the server until SIGTERM/SIGINT. */
export async function serve(flags: Record<string, string | undefined>): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, flags);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`kvs: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  try {
    const server = await startServer(config);
    exitOnSignals(server);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`kvs: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`kvs: could not start: ${describe(error)}\n`);
    process.exit(1);
  }
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return `the address is already in use (${(error as Error).message}); set PORT to another port`;
  if (code === 'EACCES') return `permission denied (${(error as Error).message})`;
  return error instanceof Error ? error.message : String(error);
}
