// The Dockerfile's metadata, as registries and air-gapped builds need it: OCI labels that agree with
// package.json and the chart, and no `# syntax=` line (BuildKit would pull a frontend image for it).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const read = (f: string): string => readFileSync(path.join(ROOT, f), 'utf8');

/** `LABEL a="x" \ b="y"` instructions of the Dockerfile, joined. */
function labels(): Record<string, string> {
  const out: Record<string, string> = {};
  const joined = dockerfile.replace(/\\\n/g, ' ');
  for (const line of joined.split('\n').filter((l) => /^LABEL\s/.test(l))) {
    for (const m of line.matchAll(/([\w.-]+)="([^"]*)"/g)) out[m[1]] = m[2];
  }
  return out;
}

describe('Dockerfile', () => {
  it('has no # syntax= parser directive', () => {
    expect(dockerfile.split('\n').filter((l) => /^#\s*syntax\s*=/i.test(l))).toEqual([]);
  });

  it('carries the OCI labels, its version agreeing with package.json and the chart', () => {
    const l = labels();
    for (const k of ['title', 'description', 'version', 'revision', 'source', 'licenses']) {
      expect(l[`org.opencontainers.image.${k}`]).toBeTruthy();
    }
    const version = /^ARG VERSION=(.+)$/m.exec(dockerfile)?.[1];
    expect(l['org.opencontainers.image.version']).toBe('${VERSION}');
    expect(version).toBe((JSON.parse(read('package.json')) as { version: string }).version);
    expect(version).toBe((yaml.load(read('charts/srec/Chart.yaml')) as { appVersion: string }).appVersion);
    expect(l['org.opencontainers.image.licenses']).toBe((JSON.parse(read('package.json')) as { license: string }).license);
  });
});
