// `srec syslog-config -f CR.yaml`: prints the rsyslog.conf the syslog pod would run for that CR.
// Exit 0 with the config on stdout; 2 on invalid input, each problem on stderr with its field path.
import { formatErrors, loadAndValidate } from '../api/load.js';
import { renderRsyslogConf } from '../desired/rsyslog-conf.js';
// The same mapping the operator uses for the syslog pod's ConfigMap, so that both print the same file.
import { rsyslogInput } from '../desired/syslog.js';

const USAGE = 'usage: srec syslog-config -f CR.yaml\n';

export async function run(args: string[]): Promise<number> {
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if ((a === '-f' || a === '--file') && args[i + 1] !== undefined) {
      file = args[++i];
    } else if (a?.startsWith('--file=')) {
      file = a.slice('--file='.length);
    } else {
      process.stderr.write(`srec syslog-config: unexpected argument "${a}"\n${USAGE}`);
      return 2;
    }
  }
  if (file === undefined) {
    process.stderr.write(`srec syslog-config: -f CR.yaml is required\n${USAGE}`);
    return 2;
  }
  const loaded = loadAndValidate(file);
  if (!loaded.ok) {
    process.stderr.write(`${formatErrors(loaded.errors)}\n`);
    return 2;
  }
  let conf: string;
  try {
    conf = renderRsyslogConf(rsyslogInput(loaded.cr));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  process.stdout.write(conf);
  return 0;
}
