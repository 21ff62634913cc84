// End to end: a real `ssh` session through the recorder (the bastion) to a real sshd, its audit events
// through a real rsyslogd running the rendered config, to a listener playing the SIEM.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../common/log.js';
import { Registry } from '../../common/metrics.js';
import { renderRsyslogConf } from '../../operator/src/desired/rsyslog-conf.js';
import { createAudit, selectSensitiveEvents } from '../../recorder/src/audit/connection.js';
import { createAuditSink } from '../../recorder/src/audit/emitter.js';
import { loadRecorderConfig } from '../../recorder/src/config.js';
import { startBastion } from '../../recorder/src/ssh/bastion.js';
import { createRecorderMetrics } from '../../recorder/src/ssh/metrics.js';
import { transferTaps } from '../../recorder/src/transfer/tap.js';
import { makeKey, sshArgs, startSshd } from '../../testing/openssh.js';
import { filesContaining, freePort, jsonOf, startRsyslogd, startTcpSiem, waitFor } from '../../testing/rsyslog.js';
import { writeRecorderConfig } from '../../recorder/test/support/recorder.js';
import { collect, spawnSsh } from '../../recorder/test/support/ssh.js';

const MARKER = 'SSH-PRIVX-SENSITIVE-AUDIT';
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

it('typed input and its output reach the SIEM as sensitive events within a second, and never a disk', async () => {
  // GIVEN a SIEM, rsyslogd forwarding sensitive events to it, a real sshd as db-1, and the recorder
  // auditing every SSH event into rsyslogd over TCP
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'srec-audit-e2e-'));
  cleanup.push(async () => fs.rmSync(tmp, { recursive: true, force: true }));
  const siem = await startTcpSiem();
  cleanup.push(() => siem.stop());
  const syslogPort = await freePort();
  const rsyslogd = await startRsyslogd({
    dir: path.join(tmp, 'rsyslog'),
    port: syslogPort,
    conf: renderRsyslogConf({
      enabled: true,
      format: 'syslog',
      auditTo: 'stdout',
      sensitiveTo: `@@127.0.0.1:${siem.port}`,
      listenPort: syslogPort,
      listenAddress: '127.0.0.1',
    }),
  });
  cleanup.push(() => rsyslogd.stop());
  const alice = await makeKey(tmp, 'alice');
  const creds = await makeKey(tmp, 'db-credentials');
  const sshd = await startSshd({ authorizedKeys: [creds.publicLine] });
  cleanup.push(() => sshd.stop());
  const recorderDir = path.join(tmp, 'recorder');
  fs.mkdirSync(recorderDir);
  const configFile = await writeRecorderConfig(
    recorderDir,
    {
      users: [{ name: 'alice', authorizedKeys: [alice.publicLine] }],
      hosts: [
        {
          name: 'db-1',
          address: '127.0.0.1',
          port: sshd.port,
          hostKeys: [sshd.hostKeyLine],
          recording: true,
          credentials: { username: 'root', privateKeyFile: creds.privatePath },
        },
      ],
      extra: {
        audit: {
          enabled: true,
          events: ['stdin', 'stdout', 'stderr', 'channel_request', 'global_request'],
          syslog: { address: `127.0.0.1:${syslogPort}`, protocol: 'tcp', format: 'syslog' },
        },
      },
    },
    { listen: await freePort(), probes: await freePort() },
  );
  const config = loadRecorderConfig(configFile);
  const log = createLogger({ component: 'recorder', silent: true });
  const registry = new Registry();
  // (the wiring srec recorder does)
  const sink = createAuditSink({ syslog: config.audit.syslog, hostname: 'test-recorder' }, registry, log);
  const bastion = await startBastion({
    config,
    log,
    metrics: createRecorderMetrics(registry),
    audit: createAudit(sink, { sensitiveEvents: selectSensitiveEvents(config.audit) }),
    taps: transferTaps(),
    recorderId: 'test-recorder',
    recordingClosed: () => undefined,
  });
  cleanup.push(() => sink.close());
  cleanup.push(() => bastion.close(1000));

  // WHEN alice opens a shell on db-1 through the recorder and types a command
  const ssh = spawnSsh(sshArgs({ port: bastion.port, identity: alice.privatePath, destination: 'root@db-1@127.0.0.1' }, ['-tt']));
  const done = collect(ssh, Date.now(), 30_000);
  cleanup.push(async () => ssh.kill('SIGKILL'));
  let shown = '';
  ssh.stdout.on('data', (b: Buffer) => (shown += b.toString()));
  await waitFor('the shell on db-1', () => shown.length > 0, 15_000);
  const id = randomUUID();
  const typed = `echo typed-$((6*7))-${id}`;
  const printed = `typed-42-${id}`;
  const t0 = Date.now();
  ssh.stdin.write(`${typed}\n`);

  // THEN the keystrokes and the output arrive at the SIEM, as sensitive events, within a second
  const sensitive = () => siem.messages.filter((m) => m.includes(MARKER)).map(jsonOf);
  const stream = (name: string) =>
    sensitive()
      .filter((o) => o.event === name)
      .map((o) => (o.encoding === 'base64' ? Buffer.from(String(o.data), 'base64').toString() : String(o.data)))
      .join('');
  await waitFor('keystrokes and output at the SIEM', () => stream('stdin').includes(typed) && stream('stdout').includes(printed), 5000);
  const latency = Date.now() - t0;
  expect(latency).toBeLessThan(1000);
  const keystroke = sensitive().find((o) => o.event === 'stdin');
  expect(keystroke).toMatchObject({
    'audit-exposure': MARKER,
    username: 'alice',
    targetUsername: 'root',
    hostID: 'db-1',
    connectionType: 'SSH',
  });
  expect(String(keystroke?.sessionID)).toMatch(/^[0-9a-f-]{36}$/);
  expect(sensitive().some((o) => o.event === 'channel_request' && o.request === 'pty-req')).toBe(true);

  // WHEN the session ends
  ssh.stdin.write('exit\n');
  const r = await done;
  expect(r.code).toBe(0);
  // THEN the start and the end are non-sensitive events on rsyslogd's stdout, without session content
  await waitFor('session_end on stdout', () => rsyslogd.stdout().includes('"event":"session_end"'), 10_000);
  expect(rsyslogd.stdout()).toContain('"event":"session_start"');
  expect(rsyslogd.stdout()).not.toContain(id);
  expect(siem.messages.every((m) => m.includes(MARKER))).toBe(true);
  // AND no file holds an audit event: not rsyslog's directories, not the recorder's spool or share, not the test's tree
  // (the recording itself holds the session, as it should: that is the trail, not an audit event)
  expect(config.tempFolder.startsWith(tmp)).toBe(true);
  expect(fs.readdirSync(config.tempFolder, { recursive: true }).length).toBeGreaterThan(0);
  const files = filesContaining([tmp, '/var/spool/rsyslog', '/var/lib/rsyslog'], MARKER).filter(
    (f) => f !== path.join(rsyslogd.dir, 'rsyslog.conf'),
  );
  expect(files).toEqual([]);
}, 60_000);
