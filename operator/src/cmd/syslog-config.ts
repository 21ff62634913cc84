// `srec syslog-config -f CR.yaml`: prints the rsyslog.conf the syslog pod would run for that CR.
// Exit 0 with the config on stdout; 2 on invalid input, each problem on stderr with its field path.
import { crFromArgs } from './cr-file.js';
import { renderRsyslogConf } from '../desired/rsyslog-conf.js';
// The same mapping the operator uses for the syslog pod's ConfigMap, so that both print the same file.
import { rsyslogInput } from '../desired/syslog.js';

export async function run(args: string[]): Promise<number> {
  const loaded = crFromArgs('syslog-config', args, 2);
  if (typeof loaded === 'number') return loaded;
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
