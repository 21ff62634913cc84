// spec.syslog.tls end to end with real parts: a SessionRecording with tls -> the rsyslog.conf the operator
// renders -> a real rsyslogd (Debian's, with the ossl stream driver) -> a Node TLS listener playing a SIEM
// that demands a client certificate. Certificates come from the openssl CLI, made fresh for each run.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createLogger } from '../../common/log.js';
import { Registry } from '../../common/metrics.js';
import { parseAndValidate } from '../../operator/src/api/load.js';
import { renderRsyslogConf, type RsyslogInput } from '../../operator/src/desired/rsyslog-conf.js';
import { rsyslogInput, SYSLOG_PATHS } from '../../operator/src/desired/syslog.js';
import { createAudit } from '../../recorder/src/audit/connection.js';
import { createAuditSink } from '../../recorder/src/audit/emitter.js';
import { SENSITIVE_EVENTS } from '../../recorder/src/audit/event.js';
import { createFrameParser, filesContaining, freePort, jsonOf, rsyslogdPath, startRsyslogd, waitFor } from '../../testing/rsyslog.js';

const SLOW = 60_000;
const MARKER = 'SSH-PRIVX-SENSITIVE-AUDIT';
const RSYSLOG_STATE_DIRS = ['/var/spool/rsyslog', '/var/lib/rsyslog'];
const log = createLogger({ component: 'test', silent: true });

let tmp: string;
const open: (() => Promise<void>)[] = [];

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

/** A CA, and a certificate it signs for `cn` with the given subjectAltName and extended key usage. */
function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
}

function makeCert(dir: string, ca: string, name: string, cn: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`,
    '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2',
    '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

interface TlsSiem {
  readonly port: number;
  readonly messages: string[];
  /** Client certificates' CNs of the connections that completed the handshake. */
  readonly clients: string[];
  /** Handshakes that failed, with OpenSSL's reason. */
  readonly handshakeErrors: string[];
}

/** A SIEM on 127.0.0.1 speaking TLS with `server.crt`, accepting only clients whose certificate `ca` signed. */
async function startTlsSiem(certs: string): Promise<TlsSiem> {
  const read = (f: string) => fs.readFileSync(path.join(certs, f));
  const messages: string[] = [];
  const clients: string[] = [];
  const handshakeErrors: string[] = [];
  const server = tls.createServer(
    { key: read('server.key'), cert: read('server.crt'), ca: read('ca.crt'), requestCert: true, rejectUnauthorized: true },
    (sock) => {
      clients.push(String(sock.getPeerCertificate().subject?.CN ?? ''));
      sock.on('data', createFrameParser((m) => messages.push(m)));
      sock.on('error', () => undefined);
    },
  );
  server.on('tlsClientError', (err) => handshakeErrors.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  open.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // close() waits for open connections; rsyslogd is stopped before this runs.
      }),
  );
  return { port: (server.address() as AddressInfo).port, messages, clients, handshakeErrors };
}

/** The rsyslog input the operator renders for a SessionRecording forwarding sensitive events with tls. */
function inputFromCr(siemPort: number, tlsSpec: string, secretKeys: readonly string[]): RsyslogInput {
  const r = parseAndValidate(`
apiVersion: recording.privx.io/v1alpha1
kind: SessionRecording
metadata: { name: tls, namespace: privx }
spec:
  storage: { nfs: { server: nfs.internal, path: /exports/privx } }
  recorder: { usersSecret: users }
  audit: { sshEvents: { enabled: true, events: [stdin, stdout] } }
  syslog:
    audit: { to: stdout, sensitive: { to: '@@127.0.0.1:${siemPort}' } }
    tls: ${tlsSpec}
`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return rsyslogInput(r.cr, { tlsSecretKeys: secretKeys });
}

/** The same config with the Secret's mount directory replaced by `dir` (the pod mounts it at SYSLOG_PATHS.tlsDir). */
function mountedAt(input: RsyslogInput, dir: string, port: number): RsyslogInput {
  const t = input.tls;
  if (!t) throw new Error('no tls in the rendered input');
  const move = (f: string | undefined) => (f === undefined ? undefined : f.replace(SYSLOG_PATHS.tlsDir, dir));
  const caFile = move(t.caFile) ?? t.caFile;
  const certFile = move(t.certFile);
  const keyFile = move(t.keyFile);
  return {
    ...input,
    listenPort: port,
    listenAddress: '127.0.0.1',
    statsInterval: 1,
    tls: { ...t, caFile, ...(certFile !== undefined ? { certFile } : {}), ...(keyFile !== undefined ? { keyFile } : {}) },
  };
}

/** A Secret's files as the pod would see them: ca.crt, tls.crt, tls.key (0440 there; 0600 here). */
function secretDir(name: string, files: { readonly ca: string; readonly cert?: string; readonly key?: string }): string {
  const dir = path.join(tmp, 'secrets', name);
  fs.mkdirSync(dir, { recursive: true });
  const certs = path.join(tmp, 'certs');
  fs.copyFileSync(path.join(certs, files.ca), path.join(dir, 'ca.crt'));
  if (files.cert) fs.copyFileSync(path.join(certs, files.cert), path.join(dir, 'tls.crt'));
  if (files.key) fs.copyFileSync(path.join(certs, files.key), path.join(dir, 'tls.key'));
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o600);
  return dir;
}

interface Run {
  readonly secret: string;
  readonly seqs: number[];
  readonly stdout: () => string;
  readonly rsyslogDir: string;
}

/** rsyslogd with `input`, the recorder's real audit sink sending `n` keystrokes and `n` outputs to it over TCP. */
async function sendThrough(input: RsyslogInput, n: number): Promise<Run> {
  const rsyslogDir = fs.mkdtempSync(path.join(tmp, 'rsyslog-'));
  const rsyslogd = await startRsyslogd({ conf: renderRsyslogConf(input), dir: rsyslogDir, port: input.listenPort });
  const sink = createAuditSink(
    { syslog: { address: `127.0.0.1:${input.listenPort}`, protocol: 'tcp', format: input.format }, backoff: { initialMs: 50, maxMs: 200 } },
    new Registry(),
    log,
  );
  open.push(async () => {
    await sink.close();
    await rsyslogd.stop();
  });
  const audit = createAudit(sink, { sensitiveEvents: [...SENSITIVE_EVENTS] }).open({
    sessionID: randomUUID(),
    connectionID: randomUUID(),
    username: 'alice',
    targetUsername: 'root',
    hostID: 'db-1',
    hostAddress: '127.0.0.1',
    remoteAddress: '127.0.0.1:40000',
  });
  const secret = `typed-secret-${randomUUID()}`;
  for (let i = 0; i < n; i++) {
    audit.data(0, 'stdin', Buffer.from(`${i} ${secret}\r`));
    audit.data(0, 'stdout', Buffer.from(`${i} ${secret}\r\n`));
  }
  const last = (audit as unknown as { seq: number }).seq;
  const seqs = Array.from({ length: 2 * n }, (_, i) => last - 2 * n + 1 + i);
  return { secret, seqs, stdout: () => rsyslogd.stdout(), rsyslogDir };
}

/** Files under the test's tree and rsyslog's state directories holding `needle`; the configs name the marker. */
function onDisk(needle: string): string[] {
  return filesContaining([tmp, ...RSYSLOG_STATE_DIRS], needle).filter((f) => path.basename(f) !== 'rsyslog.conf');
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'srec-rsyslog-tls-'));
  const certs = path.join(tmp, 'certs');
  fs.mkdirSync(certs);
  makeCa(certs, 'ca');
  makeCa(certs, 'other-ca');
  // The SIEM's name is siem.test; it is reached at 127.0.0.1, so the permitted peer is set explicitly.
  makeCert(certs, 'ca', 'server', 'siem.test', 'subjectAltName=DNS:siem.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  makeCert(certs, 'ca', 'client', 'srec-syslog', 'extendedKeyUsage=clientAuth\n');
  makeCert(certs, 'other-ca', 'stranger', 'srec-syslog', 'extendedKeyUsage=clientAuth\n');
}, SLOW);

afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('spec.syslog.tls through a real rsyslogd', () => {
  it('has the ossl stream driver installed (Debian package rsyslog-openssl)', () => {
    const libDirs = ['/usr/lib/x86_64-linux-gnu/rsyslog', '/usr/lib/aarch64-linux-gnu/rsyslog', '/usr/lib/rsyslog'];
    expect(libDirs.some((d) => fs.existsSync(path.join(d, 'lmnsd_ossl.so')))).toBe(true);
  });

  it('rsyslogd -N1 accepts the rendered TLS config, with and without a client certificate', async () => {
    for (const keys of [['ca.crt'], ['ca.crt', 'tls.crt', 'tls.key']]) {
      // GIVEN the config the operator renders for a CR with tls (files at the pod's mount path)
      const conf = renderRsyslogConf(inputFromCr(6514, '{ secretName: siem-tls, serverName: siem.test }', keys));
      expect(conf).toContain('StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name"');
      expect(conf.includes('StreamDriver.CertFile="/etc/srec/syslog-tls/tls.crt"')).toBe(keys.length === 3);
      // WHEN rsyslog checks it THEN it is accepted
      const dir = fs.mkdtempSync(path.join(tmp, 'n1-'));
      fs.writeFileSync(path.join(dir, 'rsyslog.conf'), conf);
      const r = spawnSync(rsyslogdPath(), ['-N1', '-f', path.join(dir, 'rsyslog.conf')], { encoding: 'utf8', cwd: dir });
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/error|could not load/i);
      expect(r.status).toBe(0);
    }
  }, SLOW);

  it('delivers every sensitive event to a SIEM that verifies the client certificate; nothing on disk', async () => {
    // GIVEN a TLS SIEM and rsyslogd configured from a CR with tls (serverName siem.test, client certificate in the Secret)
    const siem = await startTlsSiem(path.join(tmp, 'certs'));
    const dir = secretDir('good', { ca: 'ca.crt', cert: 'client.crt', key: 'client.key' });
    const input = mountedAt(inputFromCr(siem.port, '{ secretName: siem-tls, serverName: siem.test }', ['ca.crt', 'tls.crt', 'tls.key']), dir, await freePort());
    // WHEN a session's keystrokes and output are sent to rsyslogd over TCP
    const run = await sendThrough(input, 20);
    // THEN the SIEM gets every one, over a TLS connection from the client certificate
    await waitFor('40 sensitive events at the TLS SIEM', () => siem.messages.length >= run.seqs.length, 20_000);
    expect(siem.messages.map((m) => Number(jsonOf(m).seq))).toEqual(run.seqs);
    expect(siem.messages.every((m) => m.includes(MARKER) && m.includes(run.secret))).toBe(true);
    expect(siem.clients).toEqual(['srec-syslog']);
    expect(siem.handshakeErrors).toEqual([]);
    // AND nothing reached a file, nor rsyslogd's stdout
    expect(run.stdout()).not.toContain(run.secret);
    expect(onDisk(run.secret)).toEqual([]);
  }, SLOW);

  // Each case: what is wrong, the Secret's files, serverName, and where the refusal shows (rsyslogd's own
  // message on its stdout, or the SIEM's handshake error).
  const refusals: Array<[string, { ca: string; cert?: string; key?: string }, string, { stdout?: RegExp; siem?: RegExp }]> = [
    ['a CA that did not sign the SIEM', { ca: 'other-ca.crt', cert: 'client.crt', key: 'client.key' }, 'siem.test', { stdout: /certificate verify failed/ }],
    ['a permitted peer name the SIEM does not carry', { ca: 'ca.crt', cert: 'client.crt', key: 'client.key' }, 'other.test', { stdout: /peer name not authorized/ }],
    ['a client certificate the SIEM does not trust', { ca: 'ca.crt', cert: 'stranger.crt', key: 'stranger.key' }, 'siem.test', { siem: /./ }],
    ['no client certificate for a SIEM that wants one', { ca: 'ca.crt' }, 'siem.test', { siem: /peer did not return a certificate/ }],
  ];

  it.each(refusals)('with %s nothing is delivered and nothing lands on disk', async (_what, files, serverName, evidence) => {
    // GIVEN a TLS SIEM and rsyslogd whose TLS settings do not fit it
    const siem = await startTlsSiem(path.join(tmp, 'certs'));
    const dir = secretDir(randomUUID(), files);
    const keys = fs.readdirSync(dir);
    const input = mountedAt(inputFromCr(siem.port, `{ secretName: siem-tls, serverName: ${serverName} }`, keys), dir, await freePort());
    // WHEN sensitive events are sent
    const run = await sendThrough(input, 5);
    // THEN rsyslogd tries, the handshake is refused for that reason, and the SIEM receives nothing
    const { stdout: out, siem: err } = evidence;
    await waitFor('the refused handshake', () => (out ? out.test(run.stdout()) : true) && (err ? siem.handshakeErrors.some((e) => err.test(e)) : true), 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    // (With TLS 1.3 the SIEM may finish its side of the handshake before rsyslog rejects the SIEM's name
    // and hangs up, so a connection can appear there; not one message crosses it.)
    expect(siem.messages).toEqual([]);
    // AND the events went nowhere else: not stdout (rsyslog's own errors do not quote them), not a file
    expect(run.stdout()).not.toContain(run.secret);
    expect(onDisk(run.secret)).toEqual([]);
    expect(onDisk(MARKER)).toEqual([]);
  }, SLOW);
});
