// Which images the operator runs when a SessionRecording names none.
import type { Images } from './desired/recorder.js';
import { projectVersion } from './paths.js';

/**
 * One srec image runs the operator, the recorder and rsyslogd (see Dockerfile). `SREC_IMAGE` (the chart
 * sets it to the operator's own image) is used for both pods; `SREC_SYSLOG_IMAGE` overrides the syslog
 * one. The default carries no registry host: a cluster pulls it through its own mirror.
 */
export function defaultImages(env: NodeJS.ProcessEnv = process.env): Images {
  const own = env.SREC_IMAGE || `srec:${projectVersion()}`;
  return { recorder: own, syslog: env.SREC_SYSLOG_IMAGE || own };
}
