// Which images the operator runs when a SessionRecording names none.
import type { Images } from './desired/recorder.js';
import { projectVersion } from './paths.js';

/**
 * `SREC_IMAGE` (the chart sets it to the operator's own image) for the recorder, `SREC_SYSLOG_IMAGE` for
 * rsyslogd. Defaults carry no registry host: a cluster pulls them through its own mirror.
 */
export function defaultImages(env: NodeJS.ProcessEnv = process.env): Images {
  return {
    recorder: env.SREC_IMAGE || `srec:${projectVersion()}`,
    syslog: env.SREC_SYSLOG_IMAGE || 'rsyslog/syslog_appliance_alpine:latest',
  };
}
