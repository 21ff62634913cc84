// PURE: spec.syslog -> the rsyslog.conf the syslog pod runs (PrivX's rules, without any disk).
// Sensitive events (SSH-PRIVX-SENSITIVE-AUDIT) are matched first and forwarded to the SIEM or discarded,
// then `stop`; nothing in the config can put them in a file: no work directory, no queue files, no
// disk-assisted queues, and the only omfile target is /dev/stdout (the container's log stream, a device).
// Forwards retry forever, so that a down SIEM costs exactly what does not fit in its bounded queue, each
// drop counted by impstats (which `srec syslog-run` turns into metrics and a siem_events_lost event).

export const AUDIT_MARKER = 'SSH-PRIVX-AUDIT';
export const SENSITIVE_MARKER = 'SSH-PRIVX-SENSITIVE-AUDIT';
/** The omfwd actions' names, as impstats reports them (their queues: `<name> queue`). */
export const FORWARD_ACTIONS = { sensitive: 'sensitive-forward', audit: 'audit-forward' } as const;
/** APP-NAME of the loss reports `srec syslog-run` sends from loopback (syslog/src/notice.ts). */
export const LOSS_NOTICE_APP_NAME = 'srec-syslog';

export interface RsyslogTls {
  /** CA bundle that signs the SIEM's certificate (mounted from a Secret). */
  readonly caFile: string;
  /** Client certificate and key, for SIEMs that authenticate the sender. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** @default 'x509/name' (verify the chain and the SIEM's name) */
  readonly authMode?: 'x509/name' | 'x509/certvalid' | 'anon';
  /** Names the SIEM's certificate may carry. @default the target host */
  readonly permittedPeers?: readonly string[];
  /** rsyslog's TLS stream driver. @default 'ossl' */
  readonly driver?: 'ossl' | 'gtls';
}

export interface RsyslogInput {
  /** spec.syslog.enabled; when false the recorder sends nothing sensitive, and this pod discards it anyway. */
  enabled: boolean;
  /** How forwarded events look to the SIEM: RFC 5424 with JSON, or CEF. */
  format: 'syslog' | 'cef';
  /** spec.syslog.audit.to: stdout | @host:port (UDP) | @@host:port (TCP). */
  auditTo: string;
  /** spec.syslog.audit.sensitive.to: /dev/null (discard) | @host:port (UDP) | @@host:port (TCP). */
  sensitiveTo: string;
  /** imtcp and imudp listen here. */
  listenPort: number;
  /** TLS for every @@ (TCP) forward; with it, sensitive events must go over TCP. @default plain TCP */
  tls?: RsyslogTls;
  /** @default all addresses */
  listenAddress?: string;
  /**
   * Messages each forward action holds in memory while its target is down (spec.syslog.queue.size);
   * when it is full, new ones are dropped and counted (impstats `discarded.full`). @default 10000
   */
  queueSize?: number;
  /** Bytes per message; the recorder keeps its messages well under it. @default '64k' */
  maxMessageSize?: string;
  /** Seconds between impstats reports. @default 60 */
  statsInterval?: number;
  /**
   * A UDP port on 127.0.0.1 where `srec syslog-run` takes the impstats reports (and serves them as
   * metrics); they then go there instead of stdout. @default stdout
   */
  statsPort?: number;
  /**
   * Retries of a failed forward before rsyslog gives up on the messages it holds; -1: never. With a
   * budget, rsyslog empties the whole queue when it runs out and counts only the batch in hand as
   * `failed` (measured: 299 held, `failed` +9), a silent loss; without one the queue holds its
   * `queueSize` newest-first-dropped events and counts every drop as `discarded.full`. Retries are
   * 1 s apart for the first ten, then grow by 1 s every ten, up to 30 s (action.resumeIntervalMax).
   * @default -1
   */
  resumeRetryCount?: number;
}

type Target =
  | { readonly kind: 'stdout' }
  | { readonly kind: 'discard' }
  | { readonly kind: 'forward'; readonly protocol: 'udp' | 'tcp'; readonly host: string; readonly port: number };

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

function parseForward(value: string, field: string): Target | undefined {
  const m = /^(@@?)(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const host = m[2] ?? m[3] ?? '';
  const port = Number(m[4]);
  const hostOk = m[2] !== undefined ? IPV6.test(host) && host.includes(':') : HOSTNAME.test(host) && host.length <= 253;
  if (!hostOk) throw new Error(`${field}: "${value}" has no valid host name or address between the @ and the :port`);
  if (port < 1 || port > 65535) throw new Error(`${field}: "${value}" has port ${port}; use a port from 1 to 65535`);
  return { kind: 'forward', protocol: m[1] === '@@' ? 'tcp' : 'udp', host, port };
}

/** Where sensitive events may go: the SIEM, or nowhere. Never a file, never a log. */
export function parseSensitiveTo(value: string, field = 'spec.syslog.audit.sensitive.to'): Target {
  if (value === '/dev/null') return { kind: 'discard' };
  if (value === 'stdout' || value === '/dev/stdout' || value === '/dev/stderr') {
    throw new Error(
      `${field}: "${value}" would print sensitive session content (keystrokes, output) into the container log, ` +
        'which the node keeps on disk; use /dev/null to discard it, or @host:port (UDP) / @@host:port (TCP) to forward it to the SIEM',
    );
  }
  const fwd = parseForward(value, field);
  if (fwd) return fwd;
  if (value.startsWith('/') || value.startsWith('.') || value.includes('/')) {
    throw new Error(
      `${field}: "${value}" is a file path, and sensitive session content (keystrokes, output) may never be written ` +
        'to a file or a disk; use /dev/null to discard it, or @host:port (UDP) / @@host:port (TCP) to forward it to the SIEM',
    );
  }
  throw new Error(`${field}: "${value}" is not /dev/null, @host:port (UDP) or @@host:port (TCP)`);
}

/** Where non-sensitive events go: the pod's stdout, or a forward target. */
export function parseAuditTo(value: string, field = 'spec.syslog.audit.to'): Target {
  if (value === 'stdout') return { kind: 'stdout' };
  const fwd = parseForward(value, field);
  if (fwd) return fwd;
  throw new Error(`${field}: "${value}" is not stdout, @host:port (UDP) or @@host:port (TCP)`);
}

function q(v: string | number): string {
  return `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function checkInt(v: number, field: string, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${field}: ${v} is not an integer from ${min} to ${max}`);
  return v;
}

function checkPath(v: string, field: string): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(v)) throw new Error(`${field}: "${v}" is not an absolute path of letters, digits and ._-/`);
  return v;
}

/** An in-memory queue for one action: bounded, never blocks the main queue, never saved anywhere. */
function memoryQueue(size: number, indent: string): string[] {
  return [
    `${indent}queue.type="LinkedList" queue.size=${q(size)}`,
    `${indent}queue.timeoutEnqueue="0"  # full: drop (impstats counts discarded.full) rather than stall the main queue`,
    `${indent}queue.saveOnShutdown="off" queue.timeoutShutdown="2000"`,
  ];
}

function forwardAction(
  name: string,
  t: Extract<Target, { kind: 'forward' }>,
  input: RsyslogInput,
  queueSize: number,
  retries: number,
  indent: string,
): string[] {
  const i2 = indent + '       ';
  const lines = [
    `${indent}action(type="omfwd" name=${q(name)}`,
    `${i2}target=${q(t.host)} port=${q(t.port)} protocol=${q(t.protocol)}`,
    `${i2}template=${q(input.format === 'cef' ? 'srec_cef' : 'srec_rfc5424')}`,
  ];
  if (t.protocol === 'tcp') {
    lines.push(`${i2}TCP_Framing=${q(input.format === 'cef' ? 'traditional' : 'octet-counted')} ResendLastMSGOnReconnect="on"`);
    const tls = input.tls;
    if (tls) {
      lines.push(
        `${i2}StreamDriver=${q(tls.driver ?? 'ossl')} StreamDriverMode="1" StreamDriverAuthMode=${q(tls.authMode ?? 'x509/name')}`,
      );
      if ((tls.authMode ?? 'x509/name') === 'x509/name') {
        const peers = tls.permittedPeers?.length ? tls.permittedPeers : [t.host];
        for (const p of peers) {
          if (!/^[A-Za-z0-9*._-]+$/.test(p)) throw new Error(`tls.permittedPeers: "${p}" is not a host name`);
        }
        lines.push(`${i2}StreamDriverPermittedPeers=${q(peers.join(','))}`);
      }
      lines.push(`${i2}StreamDriver.CAFile=${q(checkPath(tls.caFile, 'tls.caFile'))}`);
      if (tls.certFile !== undefined || tls.keyFile !== undefined) {
        if (tls.certFile === undefined || tls.keyFile === undefined) throw new Error('tls: set both certFile and keyFile, or neither');
        lines.push(
          `${i2}StreamDriver.CertFile=${q(checkPath(tls.certFile, 'tls.certFile'))} StreamDriver.KeyFile=${q(checkPath(tls.keyFile, 'tls.keyFile'))}`,
        );
      }
    }
  }
  lines.push(
    ...memoryQueue(queueSize, i2),
    `${i2}action.resumeRetryCount=${q(retries)} action.resumeInterval="1" action.resumeIntervalMax="30"`,
    `${i2}action.reportSuspension="on")`,
  );
  return lines;
}

/** Hands the message to the single stdout writer, as a line made with `template`. */
function toStdout(template: string, indent: string): string[] {
  return [`${indent}set $.line = exec_template(${q(template)});`, `${indent}call srec_stdout`];
}

function describe(t: Target): string {
  if (t.kind === 'stdout') return 'stdout';
  if (t.kind === 'discard') return 'discard';
  return `forward ${t.protocol.toUpperCase()} ${t.host}:${t.port}`;
}

export function renderRsyslogConf(input: RsyslogInput): string {
  if (input.format !== 'syslog' && input.format !== 'cef') {
    throw new Error(`spec.syslog.format: "${String(input.format)}" is not syslog or cef`);
  }
  const listenPort = checkInt(input.listenPort, 'listenPort', 1, 65535);
  const queueSize = checkInt(input.queueSize ?? 10000, 'spec.syslog.queue.size', 1, 1_000_000);
  const retries = checkInt(input.resumeRetryCount ?? -1, 'resumeRetryCount', -1, 1000);
  const statsInterval = checkInt(input.statsInterval ?? 60, 'statsInterval', 1, 86400);
  const statsPort = input.statsPort === undefined ? undefined : checkInt(input.statsPort, 'statsPort', 1, 65535);
  const maxMessageSize = input.maxMessageSize ?? '64k';
  if (!/^\d+[km]?$/.test(maxMessageSize)) throw new Error(`maxMessageSize: "${maxMessageSize}" is not a size like 64k`);
  if (input.listenAddress !== undefined && !/^[0-9A-Fa-f.:]+$/.test(input.listenAddress)) {
    throw new Error(`listenAddress: "${input.listenAddress}" is not an IP address`);
  }
  // Validate both targets whatever `enabled` says: a file path is wrong in any case.
  let sensitive = parseSensitiveTo(input.sensitiveTo);
  let audit = parseAuditTo(input.auditTo);
  // TLS covers every TCP (@@) forward; sensitive events, the secret ones, may then not go over plain UDP.
  if (input.tls && sensitive.kind === 'forward' && sensitive.protocol === 'udp') {
    throw new Error('spec.syslog.audit.sensitive.to: TLS needs TCP; write @@host:port instead of @host:port');
  }
  if (!input.enabled) {
    sensitive = { kind: 'discard' };
    audit = { kind: 'stdout' };
  }
  const listenAt = input.listenAddress !== undefined ? ` address=${q(input.listenAddress)}` : '';

  const out: string[] = [
    '# rsyslog.conf of the srec syslog pod, rendered by `srec syslog-config` from spec.syslog.',
    `# syslog ${input.enabled ? 'enabled' : 'disabled'}, format ${input.format}`,
    `#   ${SENSITIVE_MARKER}: ${describe(sensitive)}`,
    `#   ${AUDIT_MARKER}: ${describe(audit)}`,
    '#   everything else: stdout',
    '#',
    '# Nothing here writes to a disk. No work directory and no queue file name are set, so no queue can be',
    '# disk-assisted or saved; every queue is an in-memory LinkedList with a bounded size that drops (and',
    '# counts) when full. The one file action writes to /dev/stdout: the container log stream, a device.',
    '',
    'global(',
    `  maxMessageSize=${q(maxMessageSize)}`,
    '  # rsyslog\'s own messages (errors may quote the start of a message) go through the rules below,',
    '  # so that one quoting a sensitive event is handled as one instead of landing in a log.',
    '  processInternalMessages="on"',
    ')',
    '',
    'main_queue(queue.type="LinkedList" queue.size="100000" queue.saveOnShutdown="off")',
    '',
    statsPort === undefined
      ? '# impstats: queue sizes, discarded.full, failed and suspended forwards, on stdout as JSON.'
      : '# impstats: queue sizes, discarded.full, failed and suspended forwards, as JSON to srec syslog-run (metrics).',
    `module(load="impstats" interval=${q(statsInterval)} format="json" log.syslog="on" ruleset="srec_stats" resetCounters="off")`,
    'module(load="imtcp" maxSessions="1000")',
    'module(load="imudp")',
    `input(type="imtcp" port=${q(listenPort)}${listenAt})`,
    `input(type="imudp" port=${q(listenPort)}${listenAt})`,
    '',
    '# To the SIEM: RFC 5424 with the recorder\'s JSON as MSG, or a CEF record behind a BSD header.',
    'template(name="srec_rfc5424" type="string"',
    '         string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%")',
    'template(name="srec_cef" type="string" string="<%PRI%>%TIMESTAMP% %HOSTNAME% %msg%")',
    '# To stdout: audit events as bare JSON (or CEF) lines; anything else with time, host and tag.',
    'template(name="srec_msg_line" type="string" string="%msg:::drop-last-lf%")',
    'template(name="srec_log_line" type="string"',
    '         string="%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%")',
    'template(name="srec_line" type="string" string="%$.line%\\n")',
    '',
    '# One writer for stdout, so that lines from different rules never interleave in the pipe.',
    'ruleset(name="srec_stdout"',
    ...memoryQueue(queueSize, '        '),
    '        queue.workerThreads="1") {',
    '  action(type="omfile" name="stdout" file="/dev/stdout" template="srec_line")',
    '}',
    '',
    'ruleset(name="srec_stats") {',
    ...(statsPort === undefined
      ? toStdout('srec_log_line', '  ')
      : [
          '  # loopback UDP: never blocks, and counters carry no event content',
          `  action(type="omfwd" name="stats" target="127.0.0.1" port=${q(statsPort)} protocol="udp" template="srec_msg_line")`,
        ]),
    '}',
    '',
  ];
  // Each forward in a ruleset of its own: the rules below call it, and so does rule 0 for its loss reports.
  const sens = FORWARD_ACTIONS.sensitive;
  if (sensitive.kind === 'forward') {
    out.push(`ruleset(name="srec_${sens.replace('-', '_')}") {`, ...forwardAction(sens, sensitive, input, queueSize, retries, '  '), '}', '');
  }
  if (audit.kind === 'forward') {
    const name = FORWARD_ACTIONS.audit;
    out.push(`ruleset(name="srec_${name.replace('-', '_')}") {`, ...forwardAction(name, audit, input, queueSize, retries, '  '), '}', '');
  }
  if (sensitive.kind === 'forward') {
    out.push(
      '# 0. srec syslog-run\'s report of events the SIEM\'s forward lost (non-sensitive, from loopback): to that',
      '#    SIEM too, so that it learns what it missed; then on to rule 2 like every audit event.',
      `if ($app-name == "${LOSS_NOTICE_APP_NAME}" and $fromhost-ip == "127.0.0.1" and $msg contains "${sens}"`,
      `    and not ($rawmsg contains "${SENSITIVE_MARKER}")) then {`,
      `  call srec_${sens.replace('-', '_')}`,
      '}',
      '',
    );
  }
  out.push(
    `# 1. Sensitive events first, then stop: no later rule ever sees them. $rawmsg also matches the marker`,
    "#    in the MSGID and in rsyslog's own messages quoting an event.",
    `if ($rawmsg contains "${SENSITIVE_MARKER}" or $msg contains "${SENSITIVE_MARKER}") then {`,
    sensitive.kind === 'forward' ? `  call srec_${sens.replace('-', '_')}` : '  # discarded, as PrivX does by default (/dev/null)',
  );
  out.push('  stop', '}', '', `# 2. Non-sensitive audit events.`, `if ($msg contains "${AUDIT_MARKER}") then {`);
  if (audit.kind === 'forward') out.push(`  call srec_${FORWARD_ACTIONS.audit.replace('-', '_')}`);
  else out.push(...toStdout('srec_msg_line', '  '));
  out.push('  stop', '}', '', '# 3. Everything else.', ...toStdout('srec_log_line', ''), '');
  return out.join('\n');
}
