// Files the operator reads at run time (the CRD, package.json), found by walking up from this module:
// the same code runs from the sources (operator/src) and from the build (dist/operator/src).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest `relative` above this module, or undefined. */
export function findUp(relative: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

let version: string | undefined;

/** The project's version (package.json), the default image tag. */
export function projectVersion(): string {
  if (version === undefined) {
    const file = findUp('package.json');
    version = file ? String((JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '0.0.0') : '0.0.0';
  }
  return version;
}
