import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rsyslogdPath } from '../../../testing/rsyslog.js';
import { parseSensitiveTo, renderRsyslogConf, type RsyslogInput } from './rsyslog-conf.js';

const discard: RsyslogInput = { enabled: true, format: 'syslog', auditTo: 'stdout', sensitiveTo: '/dev/null', listenPort: 5514 };
const forward: RsyslogInput = {
  enabled: true,
  format: 'cef',
  auditTo: '@logs.internal:514',
  sensitiveTo: '@@siem.internal:6514',
  listenPort: 5514,
  tls: { caFile: '/etc/srec/siem-tls/ca.crt', certFile: '/etc/srec/siem-tls/tls.crt', keyFile: '/etc/srec/siem-tls/tls.key' },
};

/** `rsyslogd -N1` on the text: rsyslog's own config check. Fails (never skips) when rsyslogd is missing. */
function rsyslogCheck(conf: string): { status: number | null; output: string } {
  const bin = rsyslogdPath();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srec-rsyslog-conf-'));
  try {
    const file = path.join(dir, 'rsyslog.conf');
    fs.writeFileSync(file, conf);
    const r = spawnSync(bin, ['-N1', '-f', file], { encoding: 'utf8', cwd: dir });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The action(...) and ruleset(...) statements, one string each, comments dropped. */
function statements(conf: string): string[] {
  const text = conf
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, ''))
    .join(' ');
  return [...text.matchAll(/\b(action|ruleset|main_queue|global)\(([^)]*)\)/g)].map((m) => m[0].replace(/\s+/g, ' '));
}

describe('renderRsyslogConf', () => {
  it('renders the default (sensitive events discarded, audit events on stdout)', () => {
    // GIVEN the CR defaults; WHEN rendered; THEN the whole file is what a reviewer approved
    expect(renderRsyslogConf(discard)).toMatchSnapshot();
  });

  it('renders forwarding: sensitive over TLS to the SIEM, audit events over UDP, as CEF', () => {
    expect(renderRsyslogConf(forward)).toMatchSnapshot();
  });

  it('renders the syslog pod\'s form: sensitive over TCP, impstats to srec syslog-run, a small queue', () => {
    expect(renderRsyslogConf({ ...discard, sensitiveTo: '@@siem.internal:6514', statsPort: 5515, statsInterval: 10, queueSize: 500 })).toMatchSnapshot();
  });

  it.each([
    ['discard', discard],
    ['forward with TLS', forward],
    ['forward plain TCP and UDP, syslog format', { ...discard, auditTo: '@@logs.internal:10514', sensitiveTo: '@[fd00::1]:514' }],
    ['disabled', { ...forward, enabled: false, tls: undefined }],
    ['forward, stats to srec syslog-run', { ...discard, sensitiveTo: '@@siem.internal:6514', statsPort: 5515, queueSize: 100 }],
  ])('%s: real rsyslogd accepts it (rsyslogd -N1)', (_name, input) => {
    const r = rsyslogCheck(renderRsyslogConf(input));
    expect(r.output).toContain('End of config validation run');
    expect(r.status).toBe(0);
  });

  it('has nothing that could put an event on a disk, in any mode', () => {
    for (const input of [discard, forward, { ...discard, sensitiveTo: '@@siem:6514' }]) {
      const conf = renderRsyslogConf(input);
      // (the comments too: `grep queue.filename` on the file must find nothing)
      expect(conf).not.toMatch(/queue\.filename|workDirectory/i);
      const code = conf.replace(/#.*$/gm, '');
      // no work directory, no queue files, no disk or disk-assisted queue, no file but the stdout device
      expect(code).not.toMatch(/workDirectory|\$WorkDirectory|queue\.filename|queue\.type="(Disk|FixedArray)"|queue\.spoolDirectory/i);
      expect(code).not.toContain('saveOnShutdown="on"');
      for (const m of code.matchAll(/file="([^"]*)"/g)) expect(m[1]).toBe('/dev/stdout');
      // every queue is an in-memory linked list that drops rather than blocks
      const queued = statements(conf).filter((s) => s.includes('queue.type'));
      expect(queued.length).toBeGreaterThan(0);
      for (const s of queued) {
        expect(s).toContain('queue.type="LinkedList"');
        expect(s).toContain('queue.saveOnShutdown="off"');
        expect(s).toMatch(/queue\.size="\d+"/);
      }
    }
  });

  it('handles sensitive events first and stops, so no later rule (stdout) ever sees them', () => {
    // GIVEN forwarding; WHEN rendered
    const conf = renderRsyslogConf(forward);
    // THEN the sensitive rule precedes the audit rule and the catch-all, and ends in stop
    const sensitive = conf.indexOf('if ($rawmsg contains "SSH-PRIVX-SENSITIVE-AUDIT" or $msg contains "SSH-PRIVX-SENSITIVE-AUDIT") then {');
    const audit = conf.indexOf('if ($msg contains "SSH-PRIVX-AUDIT") then {');
    const rest = conf.indexOf('# 3. Everything else.');
    expect(sensitive).toBeGreaterThan(0);
    expect(sensitive).toBeLessThan(audit);
    expect(audit).toBeLessThan(rest);
    const block = conf.slice(sensitive, audit);
    expect(block).toMatch(/\n {2}call srec_sensitive_forward\n {2}stop\n\}/);
    expect(block).not.toContain('srec_stdout');
    // AND the forward it calls is a ruleset with the SIEM's action and nothing else
    const ruleset = statements(conf).find((s) => s.startsWith('ruleset(name="srec_sensitive_forward")')) ?? '';
    expect(ruleset).not.toBe('');
    expect(conf).toMatch(/ruleset\(name="srec_sensitive_forward"\) \{\n {2}action\(type="omfwd" name="sensitive-forward"\n[^}]*\)\n\}/);
  });

  it('routes srec syslog-run\'s loss reports (from loopback, never sensitive) to the SIEM too, then on to the audit rule', () => {
    // GIVEN forwarding; WHEN rendered
    const conf = renderRsyslogConf(forward);
    const loss = conf.indexOf('if ($app-name == "srec-syslog" and $fromhost-ip == "127.0.0.1" and $msg contains "sensitive-forward"');
    const sensitive = conf.indexOf('if ($rawmsg contains "SSH-PRIVX-SENSITIVE-AUDIT"');
    // THEN the rule comes before the sensitive rule, excludes anything with the sensitive marker, and does not stop
    expect(loss).toBeGreaterThan(0);
    expect(loss).toBeLessThan(sensitive);
    const block = conf.slice(loss, conf.indexOf('\n}\n', loss) + 2);
    expect(block).toContain('and not ($rawmsg contains "SSH-PRIVX-SENSITIVE-AUDIT")) then {\n  call srec_sensitive_forward\n}');
    expect(block).not.toContain('stop');
    // AND with sensitive events discarded there is no such rule (the audit rule takes the report)
    expect(renderRsyslogConf(discard)).not.toContain('srec-syslog');
  });

  it('holds spec.syslog.queue.size events per forward in memory, retrying forever, so that every drop is counted', () => {
    // GIVEN both targets forwarded and a queue size WHEN rendered
    const conf = renderRsyslogConf({ ...forward, queueSize: 2500 });
    const fwds = statements(conf).filter((s) => s.startsWith('action(type="omfwd" name="'));
    // THEN each forward queue has that size; retries never run out (a budget empties the queue uncounted)
    expect(fwds).toHaveLength(2);
    for (const f of fwds) {
      expect(f).toContain('queue.type="LinkedList" queue.size="2500" queue.timeoutEnqueue="0"');
      expect(f).toContain('action.resumeRetryCount="-1" action.resumeInterval="1" action.resumeIntervalMax="30"');
    }
    // AND a budget can still be asked for
    expect(renderRsyslogConf({ ...forward, resumeRetryCount: 5 })).toContain('action.resumeRetryCount="5"');
  });

  it('sends impstats counters to srec syslog-run on loopback UDP instead of stdout when statsPort is set', () => {
    const conf = renderRsyslogConf({ ...forward, statsPort: 5515, statsInterval: 10 });
    expect(conf).toContain('module(load="impstats" interval="10" format="json" log.syslog="on" ruleset="srec_stats"');
    expect(conf).toMatch(
      /ruleset\(name="srec_stats"\) \{\n(?: {2}#.*\n)? {2}action\(type="omfwd" name="stats" target="127.0.0.1" port="5515" protocol="udp" template="srec_msg_line"\)\n\}/,
    );
    expect(conf.slice(conf.indexOf('ruleset(name="srec_stats")'))).not.toMatch(/^ruleset\(name="srec_stats"\) \{\n[^}]*srec_stdout/);
  });

  it('forwards sensitive events over TCP with TLS, octet counting for syslog, a bounded in-memory queue and endless retries', () => {
    const conf = renderRsyslogConf({ ...forward, format: 'syslog' });
    const fwd = statements(conf).find((s) => s.includes('name="sensitive-forward"')) ?? '';
    expect(fwd).toContain('target="siem.internal" port="6514" protocol="tcp"');
    expect(fwd).toContain('template="srec_rfc5424"');
    expect(fwd).toContain('TCP_Framing="octet-counted"');
    expect(fwd).toContain('StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name"');
    expect(fwd).toContain('StreamDriverPermittedPeers="siem.internal"');
    expect(fwd).toContain('StreamDriver.CAFile="/etc/srec/siem-tls/ca.crt"');
    expect(fwd).toContain('queue.type="LinkedList" queue.size="10000" queue.timeoutEnqueue="0"');
    expect(fwd).toContain('action.resumeRetryCount="-1"');
  });

  it('discards sensitive events when syslog is disabled, whatever sensitive.to says', () => {
    const conf = renderRsyslogConf({ ...forward, enabled: false, tls: undefined });
    expect(conf).not.toContain('type="omfwd"');
    expect(conf).toContain('#   SSH-PRIVX-SENSITIVE-AUDIT: discard');
  });

  it('sends non-sensitive audit events to stdout as bare lines, and impstats counters to stdout', () => {
    const conf = renderRsyslogConf(discard);
    expect(conf).toContain('module(load="impstats" interval="60" format="json" log.syslog="on" ruleset="srec_stats"');
    expect(conf).toMatch(/if \(\$msg contains "SSH-PRIVX-AUDIT"\) then \{\n {2}set \$\.line = exec_template\("srec_msg_line"\);\n {2}call srec_stdout\n {2}stop\n\}/);
    expect(conf).toContain('input(type="imtcp" port="5514")');
    expect(conf).toContain('input(type="imudp" port="5514")');
    expect(conf).toContain('maxMessageSize="64k"');
  });
});

describe('renderRsyslogConf: bad input', () => {
  it.each([
    ['/var/log/sensitive.log', 'is a file path, and sensitive session content (keystrokes, output) may never be written to a file or a disk'],
    ['audit/sensitive.log', 'is a file path'],
    ['stdout', 'would print sensitive session content (keystrokes, output) into the container log, which the node keeps on disk'],
    ['/dev/stdout', 'would print sensitive session content (keystrokes, output) into the container log'],
    ['@@siem.internal', 'is not /dev/null, @host:port (UDP) or @@host:port (TCP)'],
    ['@@siem.internal:70000', 'has port 70000; use a port from 1 to 65535'],
    ['@@siem internal:514', 'has no valid host name or address between the @ and the :port'],
    ['@@"x" port="1":514', 'has no valid host name or address between the @ and the :port'],
    ['@@-bad-:514', 'has no valid host name'],
  ])('sensitiveTo %j is rejected with a reason', (to, why) => {
    expect(() => renderRsyslogConf({ ...discard, sensitiveTo: to })).toThrow(`spec.syslog.audit.sensitive.to: "${to}" ${why}`);
  });

  it.each([
    ['/var/log/audit.log', 'is not stdout, @host:port (UDP) or @@host:port (TCP)'],
    ['@logs:0', 'has port 0; use a port from 1 to 65535'],
  ])('auditTo %j is rejected', (to, why) => {
    expect(() => renderRsyslogConf({ ...discard, auditTo: to })).toThrow(`spec.syslog.audit.to: "${to}" ${why}`);
  });

  it('rejects a format other than syslog or cef', () => {
    expect(() => renderRsyslogConf({ ...discard, format: 'json' as 'syslog' })).toThrow('spec.syslog.format: "json" is not syslog or cef');
  });

  it('rejects TLS towards a UDP target', () => {
    expect(() => renderRsyslogConf({ ...forward, sensitiveTo: '@siem.internal:514' })).toThrow(
      'spec.syslog.audit.sensitive.to: TLS needs TCP; write @@host:port instead of @host:port',
    );
  });

  it('rejects a listen port out of range and a half-configured client certificate', () => {
    expect(() => renderRsyslogConf({ ...discard, listenPort: 0 })).toThrow('listenPort: 0 is not an integer from 1 to 65535');
    expect(() => renderRsyslogConf({ ...forward, tls: { caFile: '/ca.crt', certFile: '/tls.crt' } })).toThrow(
      'tls: set both certFile and keyFile, or neither',
    );
  });

  it('rejects a queue size, stats port or retry count out of range, naming the field', () => {
    expect(() => renderRsyslogConf({ ...discard, queueSize: 0 })).toThrow('spec.syslog.queue.size: 0 is not an integer from 1 to 1000000');
    expect(() => renderRsyslogConf({ ...discard, queueSize: 2.5 })).toThrow('spec.syslog.queue.size: 2.5 is not an integer');
    expect(() => renderRsyslogConf({ ...discard, statsPort: 70000 })).toThrow('statsPort: 70000 is not an integer from 1 to 65535');
    expect(() => renderRsyslogConf({ ...discard, resumeRetryCount: -2 })).toThrow('resumeRetryCount: -2 is not an integer from -1 to 1000');
  });

  it('parses the accepted forms', () => {
    expect(parseSensitiveTo('/dev/null')).toEqual({ kind: 'discard' });
    expect(parseSensitiveTo('@siem:514')).toEqual({ kind: 'forward', protocol: 'udp', host: 'siem', port: 514 });
    expect(parseSensitiveTo('@@10.0.0.9:6514')).toEqual({ kind: 'forward', protocol: 'tcp', host: '10.0.0.9', port: 6514 });
    expect(parseSensitiveTo('@@[fd00::9]:6514')).toEqual({ kind: 'forward', protocol: 'tcp', host: 'fd00::9', port: 6514 });
  });
});
