import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from './syslog-config.js';

/** Runs the command with stdout and stderr captured. */
async function srecSyslogConfig(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const w = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await run(args);
    return { code, out, err };
  } finally {
    process.stdout.write = w.out;
    process.stderr.write = w.err;
  }
}

describe('srec syslog-config', () => {
  it('prints the discard config for examples/nfs.yaml', async () => {
    const r = await srecSyslogConfig('-f', 'examples/nfs.yaml');
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('#   SSH-PRIVX-SENSITIVE-AUDIT: discard');
    expect(r.out).not.toContain('queue.filename');
  });

  it('prints the forward config for examples/nfs-forward.yaml', async () => {
    const r = await srecSyslogConfig('--file', 'examples/nfs-forward.yaml');
    expect(r.code).toBe(0);
    expect(r.out).toContain('#   SSH-PRIVX-SENSITIVE-AUDIT: forward TCP siem.internal:6514');
    expect(r.out).toContain('target="siem.internal" port="6514" protocol="tcp"');
  });

  it('exits 2 and says why when sensitive events would go to a file', async () => {
    const r = await srecSyslogConfig('-f', 'operator/test/fixtures/bad/sensitive-to-file.yaml');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('spec.syslog.audit.sensitive.to');
    expect(r.err).toContain('never be written to disk');
  });

  it('exits 2 on a missing file, a missing -f and an unknown argument', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srec-syslog-config-'));
    const missing = await srecSyslogConfig('-f', path.join(dir, 'nope.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('cannot read');
    expect(await srecSyslogConfig()).toMatchObject({ code: 2, err: expect.stringContaining('-f CR.yaml is required') });
    expect(await srecSyslogConfig('-x')).toMatchObject({ code: 2, err: expect.stringContaining("Unknown option '-x'") });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
