import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jest } from '@jest/globals';
import yaml from 'js-yaml';
import { badFixtures } from '../../test/bad-fixtures.js';
import { run as render } from './render.js';
import { run as validate } from './validate.js';

/** Runs a command, capturing what it writes. */
async function capture(cmd: (args: string[]) => Promise<number>, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    return { code: await cmd(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('srec validate', () => {
  it.each(['efs', 'nfs', 'existing-claim', 'nfs-forward'])('exits 0 on examples/%s.yaml', async (name) => {
    const r = await capture(validate, ['-f', `examples/${name}.yaml`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it.each(badFixtures().map((f) => [f.name, f] as const))('exits 1 on %s naming the field', async (_name, f) => {
    // GIVEN a bad fixture WHEN validated THEN exit 1 and a line that starts with the field path
    const r = await capture(validate, ['-f', f.file]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${f.expectedPath.replace(/[.[\]]/g, '\\$&')}: `))]));
  });

  it('exits 2 without -f', async () => {
    expect((await capture(validate, [])).code).toBe(2);
  });
});

describe('srec render', () => {
  it("prints the PV, PVC, both ConfigMaps, both Deployments, both Services and the recorder's budget for examples/nfs.yaml", async () => {
    const r = await capture(render, ['-f', 'examples/nfs.yaml']);
    expect(r.code).toBe(0);
    const docs = yaml.loadAll(r.stdout) as Array<{ kind: string; metadata: { name: string } }>;
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'PersistentVolume/srec-privx-prod',
      'PersistentVolumeClaim/prod-share',
      'ConfigMap/prod-recorder',
      'Deployment/prod-recorder',
      'Service/prod-recorder',
      'PodDisruptionBudget/prod-recorder',
      'ConfigMap/prod-syslog',
      'Deployment/prod-syslog',
      'Service/prod-syslog',
    ]);
  });

  it('exits 2 on invalid input, naming the field', async () => {
    const r = await capture(render, ['--file', 'operator/test/fixtures/bad/sensitive-to-file.yaml']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('spec.syslog.audit.sensitive.to: sensitive session content may never be written to disk');
  });
});

describe('srec operator', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  /** How many of ssh2's files a fresh node has loaded after importing `module` from the sources. */
  const ssh2FilesLoadedBy = (module: string): string => {
    const code = [
      "import { createRequire } from 'node:module';",
      `await import(${JSON.stringify(pathToFileURL(path.join(root, module)).href)});`,
      "const cache = Object.keys(createRequire(import.meta.url).cache);",
      "process.stdout.write(String(cache.filter((k) => k.includes('/node_modules/ssh2/')).length));",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', path.join(root, 'testing/ts-register.mjs'), '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`node exited with ${r.status}: ${r.stderr}`);
    return r.stdout;
  };

  it('does not load ssh2, as cli.ts promises (the recorder does)', () => {
    // GIVEN a fresh node WHEN it loads the operator's command, and for comparison the recorder's
    // THEN the operator has loaded none of ssh2 and the recorder has
    expect(ssh2FilesLoadedBy('operator/src/cmd/operator.ts')).toBe('0');
    expect(Number(ssh2FilesLoadedBy('recorder/src/cmd/recorder.ts'))).toBeGreaterThan(0);
  });
});
