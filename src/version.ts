import { readFileSync } from 'node:fs';

/** kvs's version, from package.json (two levels above this file in both src/ and dist/src/). */
export const VERSION: string = (() => {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'kvs' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // Try the next location.
    }
  }
  return '0.0.0';
})();
