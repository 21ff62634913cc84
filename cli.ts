// `srec <command>`: one entry point for the operator, the recorder and the auditor's tools.
// Each command lives beside the code it drives and is loaded only when asked for, so that
// `srec search` does not pay for the Kubernetes client and `srec operator` not for ssh2.

/** A command takes its own arguments and resolves to an exit code (long-running ones resolve on signal). */
export type Command = (args: string[]) => Promise<number>;

interface Entry {
  readonly summary: string;
  readonly load: () => Promise<{ run: Command }>;
}

const commands: Record<string, Entry> = {
  operator: {
    summary: 'run the SessionRecording controller   [--kubeconfig F] [--namespace N] [--leader-elect]',
    load: () => import('./operator/src/cmd/operator.js'),
  },
  render: {
    summary: 'print every object the operator would apply for a CR   -f CR.yaml',
    load: () => import('./operator/src/cmd/render.js'),
  },
  validate: {
    summary: "check a CR with the CRD's schema and rules   -f CR.yaml",
    load: () => import('./operator/src/cmd/validate.js'),
  },
  'syslog-config': {
    summary: 'print the rsyslog.conf the syslog pod would run   -f CR.yaml',
    load: () => import('./operator/src/cmd/syslog-config.js'),
  },
  'syslog-run': {
    summary: "run the syslog pod: rsyslogd, its counters as metrics, a siem_events_lost event after a loss   --config F --stats-port N --listen-port N",
    load: () => import('./syslog/src/cmd.js'),
  },
  recorder: {
    summary: 'run the recording SSH bastion   --config F',
    load: () => import('./recorder/src/cmd/recorder.js'),
  },
  keys: {
    summary: 'make or rotate the trail key set   init DIR | rotate DIR',
    load: () => import('./recorder/src/cmd/keys.js'),
  },
  sessions: {
    summary: 'list recorded sessions   --data DIR [--keys DIR]',
    load: () => import('./recorder/src/cmd/sessions.js'),
  },
  search: {
    summary: 'find keywords in recorded sessions   --data DIR [--keys DIR] [--session ID] WORDS',
    load: () => import('./recorder/src/cmd/search.js'),
  },
  play: {
    summary: 'replay a session, or print its transcript   --data DIR [--keys DIR] ID [--speed X] [--text]',
    load: () => import('./recorder/src/cmd/play.js'),
  },
  console: {
    summary: "the auditor's console in a browser: connections, playback, search, files   --data DIR --listen HOST:PORT [--token-file F]",
    load: () => import('./console/src/cmd.js'),
  },
  verify: {
    summary: "check each session's files, signature and chain   --data DIR [--keys DIR] [ID]",
    load: () => import('./recorder/src/cmd/verify.js'),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, e]) => `  ${name.padEnd(width)}  ${e.summary}`);
  return ['usage: srec <command> [options]', '', 'commands:', ...lines, ''].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = commands[name];
  if (entry === undefined) {
    process.stderr.write(`srec: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await entry.load();
  return mod.run(rest);
}
