// audit: SSH events as sensitive audit events, recorder -> a real rsyslogd running the operator's
// rsyslog.conf -> a TCP listener playing the SIEM (in a worker thread).
//  1. events/s with loss, two ways:
//     a. end to end: 48 sessions through the recorder print one short line every 2 ms each (sshd reads
//        each line on its own, so each is one stdout event);
//     b. the audit path alone: the recorder's own emitter (createAudit + createAuditSink, the wiring
//        of `srec recorder`) fed stdout events at a fixed rate, without the SSH work around it.
//     Loss = events made - events at the SIEM, split into the recorder's drops and rsyslogd's discards.
//  2. the SIEM down for 60 s during a busy session (`cat` of a log in a loop): the session's throughput
//     while it is down vs before, and whether the marker reached any file (the session has a pty, so that
//     every byte of it is an event).
//  3. bulk output (`ssh host cat`, no pty) with sensitive audit on vs a recorder without audit, for text
//     and random bytes, and the SIEM events per MiB (audit.bulkData: summary).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createLogger } from '../common/log.js';
import { Registry, total } from '../common/metrics.js';
import { renderRsyslogConf } from '../operator/src/desired/rsyslog-conf.js';
import { createAudit } from '../recorder/src/audit/connection.js';
import { createAuditSink } from '../recorder/src/audit/emitter.js';
import { MiB, atEnd, cpuSeconds, emit, progress, scaled, sleep, tempDir, threadCpuSeconds } from './support/common.js';
import { writeLogFile } from './support/data.js';
import { freePort, sshArgs } from '../testing/openssh.js';
import { startLab, waitIdle, type BenchRecorder } from './support/recorder.js';
import { occurrencesIn, startRsyslogd, type Rsyslogd } from '../testing/rsyslog.js';
import { cmdline, sh } from './support/shell.js';
import { MARKER, startSiem, type Siem } from './support/siem.js';

const B = 'audit';
const SENSITIVE = `exposure="${MARKER}"`;

async function made(r: BenchRecorder): Promise<{ sent: number; dropped: number }> {
  return { sent: await r.metric('srec_audit_events_sent_total', SENSITIVE), dropped: await r.metric('srec_audit_events_dropped_total', SENSITIVE) };
}

/** rsyslogd's discards of the sensitive forward so far (impstats: queue full + not forwarded, action failed). */
function discarded(r: Rsyslogd): number {
  const s = r.stats();
  const q = s['sensitive-forward queue'] ?? {};
  return (q['discarded.full'] ?? 0) + (q['discarded.nf'] ?? 0) + (s['sensitive-forward']?.failed ?? 0);
}

/** Waits until the SIEM count has not moved for `quietMs` (or `maxMs` passed), then for one more impstats report. */
async function drained(siem: Siem, quietMs = 4000, maxMs = 60_000): Promise<void> {
  const until = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < until) {
    const n = (await siem.counts()).sensitive;
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
    await sleep(250);
  }
  await sleep(2500);
}

export async function run(): Promise<void> {
  const dir = tempDir(B);
  const siem = await startSiem();
  atEnd(() => siem.close());
  const syslogPort = await freePort();
  const rsyslogDir = path.join(dir, 'rsyslog');
  const rsyslogd = await startRsyslogd({
    dir: rsyslogDir,
    port: syslogPort,
    conf: renderRsyslogConf({ enabled: true, format: 'syslog', auditTo: 'stdout', sensitiveTo: `@@127.0.0.1:${siem.port}`, listenPort: syslogPort, listenAddress: '127.0.0.1', statsInterval: 2 }),
    // Its stdout (every non-sensitive event) is counted, not kept: gigabytes in a long run.
    keepStdout: false,
  });
  atEnd(() => rsyslogd.stop());
  const syslog = { address: `127.0.0.1:${syslogPort}`, protocol: 'tcp' as const, format: 'syslog' as const };
  // The sensitive events a team would select (stdout among them, as PrivX's default list has it).
  const audited = { audit: { enabled: true, events: ['stdin', 'stdout', 'stderr', 'channel_request', 'global_request'], syslog } } as const;
  const lab = await startLab(dir, audited);
  const target = lab.via('rec');

  // ---- 1a. end to end through SSH sessions ----
  const sessions = scaled(48, 4);
  const perSecond = 500;
  const seconds = scaled(20, 4);
  const perl = `$|=1; for $i (1..${perSecond * seconds}) { print "audit bench event $i of session $ENV{S}\\n"; select(undef,undef,undef,${1 / perSecond}) }`;
  {
    const m0 = await made(lab.recorder);
    const s0 = (await siem.counts()).sensitive;
    const r0 = discarded(rsyslogd);
    const cpu0 = { recorder: cpuSeconds(lab.recorder.pid), rsyslogd: cpuSeconds(rsyslogd.pid) };
    progress(B, `${sessions} sessions printing ${perSecond} lines/s each for ${seconds} s`);
    const t0 = Date.now();
    const runs = await Promise.all(Array.from({ length: sessions }, (_, i) => sh(`${cmdline(['ssh', ...sshArgs(target), `S=${i} perl -e '${perl}'`])} | wc -l`)));
    const genSeconds = (Date.now() - t0) / 1000;
    const cpu = `recorder ${((100 * (cpuSeconds(lab.recorder.pid) - cpu0.recorder)) / genSeconds).toFixed(0)}% CPU, rsyslogd ${((100 * (cpuSeconds(rsyslogd.pid) - cpu0.rsyslogd)) / genSeconds).toFixed(0)}% CPU`;
    const printed = runs.reduce((a, r) => a + Number(r.stdout.trim() || 0), 0);
    await drained(siem);
    const m1 = await made(lab.recorder);
    const c1 = await siem.counts();
    const got = c1.sensitive - s0;
    const recDropped = m1.dropped - m0.dropped;
    const madeN = m1.sent - m0.sent + recDropped;
    const rsDiscarded = discarded(rsyslogd) - r0;
    const rate = got / ((c1.lastAt - t0) / 1000);
    progress(B, `${printed} lines printed in ${genSeconds.toFixed(1)} s; recorder made ${madeN} events (${recDropped} dropped), rsyslogd discarded ${rsDiscarded}, SIEM got ${got}: ${rate.toFixed(0)} events/s; ${cpu}`);
    emit({ bench: B, metric: 'events_per_second.ssh_sessions', value: rate, unit: 'events/s', baseline: null, ratio: null, target: '>= 20000 events/s', met: rate >= 20_000, note: `${got} events at the SIEM in ${((c1.lastAt - t0) / 1000).toFixed(1)} s from ${sessions} sessions printing up to ${sessions * perSecond} lines/s (${printed} lines in ${genSeconds.toFixed(1)} s); ${cpu}` });
    emit({ bench: B, metric: 'events_lost.ssh_sessions', value: madeN - got, unit: 'events', baseline: madeN, ratio: madeN > 0 ? (madeN - got) / madeN : null, target: '0 lost while the SIEM is up', met: madeN === got, note: `baseline = events the recorder made; dropped by the recorder ${recDropped}, discarded by rsyslogd ${rsDiscarded}` });
  }

  // ---- 1b. the audit path alone: the recorder's emitter, rsyslogd, the SIEM ----
  {
    const rate = Number(process.env.BENCH_AUDIT_RATE ?? 25_000);
    const secs = scaled(10, 3);
    const registry = new Registry();
    const audit = createAudit(createAuditSink({ syslog, hostname: 'bench-recorder' }, registry, createLogger({ component: 'bench', silent: true })), { sensitiveEvents: ['stdout'] });
    const data = Buffer.from('audit bench event 000000 of session 00: drwxr-xr-x  2 root root 4096 Mar  1 10:00 .\r\n');
    const connection = audit.open({ connectionID: 'c0ffee00-0000-4000-8000-000000000001', sessionID: '5e55e55e-0000-4000-8000-000000000001', username: 'alice', targetUsername: 'root', hostID: 'db-1', hostAddress: '10.0.0.5', remoteAddress: '10.1.2.3:51234' });
    await sleep(500);
    const s0 = (await siem.counts()).sensitive;
    const r0 = discarded(rsyslogd);
    const cpu0 = cpuSeconds(rsyslogd.pid);
    const cpuSelf0 = process.cpuUsage();
    progress(B, `the audit path alone: ${rate} events/s for ${secs} s`);
    const t0 = Date.now();
    let n = 0;
    for (let tick = 0; Date.now() < t0 + secs * 1000; tick++) {
      const due = Math.floor(((Date.now() - t0) / 1000) * rate);
      for (; n < due; n++) connection.data(0, 'stdout', data);
      await sleep(5);
    }
    const genSeconds = (Date.now() - t0) / 1000;
    const cpuSelf = process.cpuUsage(cpuSelf0);
    const rsCpu = cpuSeconds(rsyslogd.pid) - cpu0;
    await drained(siem);
    const c1 = await siem.counts();
    const got = c1.sensitive - s0;
    const dropped = total(registry, 'srec_audit_events_dropped_total');
    const rsDiscarded = discarded(rsyslogd) - r0;
    const delivered = got / ((c1.lastAt - t0) / 1000);
    const cpu = `emitter ${((100 * (cpuSelf.user + cpuSelf.system)) / 1e6 / genSeconds).toFixed(0)}% CPU (this process), rsyslogd ${((100 * rsCpu) / genSeconds).toFixed(0)}% CPU`;
    progress(B, `emitted ${n}, recorder-side drops ${dropped}, rsyslogd discarded ${rsDiscarded}, SIEM got ${got}: ${delivered.toFixed(0)} events/s; ${cpu}`);
    emit({ bench: B, metric: 'events_per_second.audit_path', value: delivered, unit: 'events/s', baseline: rate, ratio: delivered / rate, target: '>= 20000 events/s', met: delivered >= 20_000 && got === n, note: `baseline = offered events/s; ${got} of ${n} events at the SIEM; ${cpu}` });
    emit({ bench: B, metric: 'events_lost.audit_path', value: n - got, unit: 'events', baseline: n, ratio: (n - got) / n, target: '0 lost while the SIEM is up', met: n === got, note: `dropped by the emitter ${dropped}, discarded by rsyslogd ${rsDiscarded}` });
    await audit.close();
  }

  // ---- 2. the SIEM down during a busy session ----
  const file = path.join(dir, 'busy.log');
  await writeLogFile(file, 16 * MiB, 5);
  const before = scaled(20, 4);
  const outage = Number(process.env.BENCH_AUDIT_OUTAGE_SECONDS ?? scaled(60, 6));
  // With a pty, as a person at a terminal: every byte is an event (audit.bulkData summarises only pty-less text
  // beyond its budget), so the SIEM link carries the whole stream.
  const busy = spawn('ssh', [...sshArgs(target, ['-tt']), `while cat ${file}; do :; done`], { stdio: ['ignore', 'pipe', 'ignore'] });
  atEnd(() => void busy.kill('SIGKILL'));
  let bytes = 0;
  busy.stdout.on('data', (b: Buffer) => (bytes += b.length));
  await sleep(3000); // steady state
  const window = async (s: number) => {
    const b0 = bytes;
    const t = Date.now();
    const c0 = { recorder: cpuSeconds(lab.recorder.pid), rsyslogd: cpuSeconds(rsyslogd.pid) };
    // The recorder's audit queue, sampled: does the link to rsyslogd back up?
    let maxQueue = 0;
    while (Date.now() - t < s * 1000) {
      await sleep(1000);
      maxQueue = Math.max(maxQueue, await lab.recorder.metric('srec_audit_queue_bytes'));
    }
    const dt = (Date.now() - t) / 1000;
    return {
      mibps: (bytes - b0) / MiB / dt,
      cpu: `recorder ${((100 * (cpuSeconds(lab.recorder.pid) - c0.recorder)) / dt).toFixed(0)}%, rsyslogd ${((100 * (cpuSeconds(rsyslogd.pid) - c0.rsyslogd)) / dt).toFixed(0)}% CPU, audit queue max ${(maxQueue / MiB).toFixed(1)} MiB`,
    };
  };
  const up = await window(before);
  progress(B, `busy session with the SIEM up: ${up.mibps.toFixed(1)} MiB/s (${up.cpu})`);
  const d0 = await made(lab.recorder);
  const sd0 = (await siem.counts()).sensitive;
  const r0 = discarded(rsyslogd);
  await siem.down();
  const down = await window(outage);
  const d1 = await made(lab.recorder);
  progress(B, `with the SIEM down for ${outage} s: ${down.mibps.toFixed(1)} MiB/s (${down.cpu}); the recorder made ${d1.sent - d0.sent + d1.dropped - d0.dropped} events, dropped ${d1.dropped - d0.dropped}`);
  await siem.up();
  const after = await window(scaled(10, 3));
  busy.kill('SIGTERM');
  await drained(siem, 4000, 30_000);
  const sd1 = (await siem.counts()).sensitive;
  const roots = [rsyslogDir, lab.recorder.tempFolder, lab.recorder.dataFolder, '/var/spool/rsyslog', '/var/lib/rsyslog'];
  // rsyslog.conf names the marker in its rule (`:msg, contains, ...`): that file is the config, not an event.
  const hits = occurrencesIn(roots, MARKER).filter((h) => h.file !== path.join(rsyslogDir, 'rsyslog.conf'));
  const onDisk = hits.reduce((a, h) => a + h.occurrences * MARKER.length, 0);
  progress(B, `after the SIEM came back: ${after.mibps.toFixed(1)} MiB/s (${after.cpu}); the SIEM got ${sd1 - sd0} events over the outage and after; marker in ${hits.length} files`);
  emit({ bench: B, metric: 'throughput_siem_down_vs_up', value: down.mibps, unit: 'MiB/s', baseline: up.mibps, ratio: down.mibps / up.mibps, target: '>= 0.95x with the SIEM up', met: down.mibps / up.mibps >= 0.95, note: `busy session (cat of a 16 MiB log in a loop): ${before} s with the SIEM up (${up.cpu}), ${outage} s down (${down.cpu}; BENCH_AUDIT_OUTAGE_SECONDS), then ${after.mibps.toFixed(1)} MiB/s back up; the recorder dropped ${d1.dropped - d0.dropped} events, rsyslogd discarded ${discarded(rsyslogd) - r0} (in-memory queue full, docs/audit.md)` });
  emit({ bench: B, metric: 'marker_bytes_on_disk', value: onDisk, unit: 'bytes', baseline: null, ratio: null, target: '0 bytes while down', met: onDisk === 0, note: `"${MARKER}" searched after the outage in ${roots.join(', ')} (rsyslog.conf, whose rule names it, left out)${hits.length ? ': ' + hits.map((h) => h.file).join(', ') : ''}` });

  // ---- 3. bulk output with sensitive audit on (stdout selected) vs a recorder without audit ----
  // audit.bulkData (default summary): a pty-less channel's chunks that are not text, and its text beyond the
  // stream's budget (1 MiB, then 256 KiB/s), go to the SIEM as one data_summary per stream; the rest of the
  // text goes as stdout events. Measured for log text and for random bytes.
  // Two fresh recorders, one without audit and one as above; the first one stopped: its seal indexer may still
  // be indexing the busy session of section 2 (gigabytes of pty output), which would be measured with them.
  await lab.recorder.stop();
  const quiet = await startLab(path.join(dir, 'no-audit'));
  const loud = await startLab(path.join(dir, 'audit-on'), audited);
  const bulk = [
    { kind: 'text', file: path.join(dir, 'bulk.log'), mib: scaled(64, 8) },
    { kind: 'binary', file: path.join(dir, 'bulk.bin'), mib: scaled(64, 8) },
  ];
  await writeLogFile(bulk[0]!.file, bulk[0]!.mib * MiB);
  await sh(`head -c ${bulk[1]!.mib * MiB} /dev/urandom > ${bulk[1]!.file}`);
  for (const { kind, file, mib } of bulk) {
    // Each way twice, alternated, the faster of each kept; both recorders idle before each run (the other's
    // afterwork — repack, derived cast, search index — would otherwise run during it).
    // The recorder's CPU (all threads, until it is idle again: on the share and indexed) is counted too: wall time on two
    // shared cores varies by half from run to run, CPU much less.
    const rates: Record<'on' | 'off', number> = { on: 0, off: 0 };
    const cpu: Record<'on' | 'off', number> = { on: Infinity, off: Infinity };
    let events = 0;
    const runs = [['off', quiet], ['on', loud], ['off', quiet], ['on', loud]] as const;
    for (const [mode, l] of runs) {
      const t = l.via('rec');
      await waitIdle(quiet.recorder);
      await waitIdle(loud.recorder);
      const ssh = cmdline(['ssh', ...sshArgs(t, ['-c', 'aes128-gcm@openssh.com'])]);
      const login = (await sh(`${ssh} true`)).seconds;
      const e0 = (await siem.counts()).sensitive;
      const c0 = threadCpuSeconds(l.recorder.pid);
      const r = await sh(`${ssh} 'cat ${file}' | wc -c`);
      if (Number(r.stdout.trim()) !== mib * MiB) throw new Error(`audit ${mode}: got ${r.stdout.trim()} bytes, not ${mib * MiB}`);
      const rate = mib / Math.max(0.01, r.seconds - login);
      rates[mode] = Math.max(rates[mode], rate);
      await waitIdle(l.recorder);
      const c1 = threadCpuSeconds(l.recorder.pid);
      const seconds = c1.main + c1.others - (c0.main + c0.others);
      cpu[mode] = Math.min(cpu[mode], seconds);
      if (mode === 'on') {
        await drained(siem, 3000, 60_000);
        events = (await siem.counts()).sensitive - e0;
      }
      progress(B, `bulk ${kind} with sensitive audit ${mode}: ${rate.toFixed(1)} MiB/s; recorder CPU ${seconds.toFixed(2)} s until idle again (main thread ${(c1.main - c0.main).toFixed(2)} s)`);
    }
    emit({ bench: B, metric: `sensitive_on_vs_off.${kind}`, value: rates.on, unit: 'MiB/s', baseline: rates.off, ratio: rates.on / rates.off, target: '>= 0.8x audit off', met: rates.on / rates.off >= 0.8, note: `ssh cat of ${mib} MiB ${kind}, the faster of two runs each way, recording on both ways, stdout among audit.events (bulkData summary: binary and text beyond 1 MiB + 256 KiB/s summarised) vs a recorder without audit` });
    emit({ bench: B, metric: `recorder_cpu_on_vs_off.${kind}`, value: cpu.on, unit: 's', baseline: cpu.off, ratio: cpu.on / cpu.off, note: `recorder CPU (all threads) for the ${mib} MiB until the recorder is idle again (on the share, indexed), the lower of two runs each way` });
    emit({ bench: B, metric: `siem_events_per_mib.${kind}`, value: events / mib, unit: 'events/MiB', baseline: null, ratio: null, note: `${events} sensitive events at the SIEM for ${mib} MiB of output` });
  }
  await quiet.recorder.stop();
  await loud.recorder.stop();
}
