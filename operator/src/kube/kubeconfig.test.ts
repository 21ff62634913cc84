import { mkdtempSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { inCluster, readKubeconfig } from './kubeconfig.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'srec-kubeconfig-'));
writeFileSync(path.join(dir, 'ca.crt'), 'CA FROM FILE');
writeFileSync(path.join(dir, 'token'), 'token-1\n');

const kubeconfig = (cluster: Record<string, unknown>, user: Record<string, unknown>) =>
  yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'ctx',
    contexts: [
      { name: 'other', context: { cluster: 'other', user: 'other' } },
      { name: 'ctx', context: { cluster: 'c', user: 'u' } },
    ],
    clusters: [
      { name: 'other', cluster: { server: 'https://wrong:1' } },
      { name: 'c', cluster: { server: 'https://127.0.0.1:6443', ...cluster } },
    ],
    users: [{ name: 'u', user }],
  });

async function optionsOf(access: { applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }): Promise<https.RequestOptions> {
  const o: https.RequestOptions = {};
  await access.applyToHTTPSOptions(o);
  return o;
}

describe('readKubeconfig', () => {
  it('GIVEN a token and inline CA THEN the current context’s server, CA and bearer token', async () => {
    const access = readKubeconfig(kubeconfig({ 'certificate-authority-data': Buffer.from('INLINE CA').toString('base64') }, { token: 'abc' }), dir);
    expect(access?.getCurrentCluster()).toEqual({ server: 'https://127.0.0.1:6443' });
    const o = await optionsOf(access!);
    expect(String(o.ca)).toBe('INLINE CA');
    expect(o.headers).toEqual({ Authorization: 'Bearer abc' });
  });

  it('GIVEN file paths relative to the kubeconfig THEN they are read from its directory', async () => {
    const access = readKubeconfig(kubeconfig({ 'certificate-authority': 'ca.crt', 'insecure-skip-tls-verify': true }, { 'client-certificate': 'ca.crt', 'client-key-data': Buffer.from('KEY').toString('base64') }), dir);
    const o = await optionsOf(access!);
    expect([String(o.ca), String(o.cert), String(o.key), o.rejectUnauthorized]).toEqual(['CA FROM FILE', 'CA FROM FILE', 'KEY', false]);
    expect(o.headers).toEqual({});
  });

  it('GIVEN a token file THEN it is read again once a minute (a projected token is renewed)', async () => {
    let now = 0;
    const access = readKubeconfig(kubeconfig({}, { tokenFile: 'token' }), dir, () => now)!;
    expect((await optionsOf(access)).headers).toEqual({ Authorization: 'Bearer token-1' });
    writeFileSync(path.join(dir, 'token'), 'token-2\n');
    now = 30_000;
    expect((await optionsOf(access)).headers).toEqual({ Authorization: 'Bearer token-1' });
    now = 60_000;
    expect((await optionsOf(access)).headers).toEqual({ Authorization: 'Bearer token-2' });
  });

  it('GIVEN exec or auth-provider credentials or a proxy THEN it leaves the kubeconfig to client-node', () => {
    expect(readKubeconfig(kubeconfig({}, { exec: { command: 'aws' } }), dir)).toBeUndefined();
    expect(readKubeconfig(kubeconfig({}, { 'auth-provider': { name: 'oidc' } }), dir)).toBeUndefined();
    expect(readKubeconfig(kubeconfig({ 'proxy-url': 'http://proxy:3128' }, { token: 'x' }), dir)).toBeUndefined();
    expect(readKubeconfig('apiVersion: v1\nkind: Config\n', dir)).toBeUndefined();
  });
});

describe('inCluster', () => {
  it('uses the service host and port, the ServiceAccount CA and token', async () => {
    writeFileSync(path.join(dir, 'token'), 'sa-token\n');
    const access = inCluster({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(access.getCurrentCluster().server).toBe('https://[fd00::1]:443');
    const o = await optionsOf(access);
    expect(String(o.ca)).toBe('CA FROM FILE');
    expect(o.headers).toEqual({ Authorization: 'Bearer sa-token' });
  });
});
