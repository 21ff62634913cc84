// Every object the operator applies for a SessionRecording, in apply order. Pure.
import type { SessionRecording } from '../api/types.js';
import { type KubeObject, withDesiredHash } from './meta.js';
import { buildRecorder, type Images } from './recorder.js';
import type { RecorderConfigOptions } from './recorder-config.js';
import { buildStorage } from './storage.js';
import { buildSyslog, type SyslogOptions } from './syslog.js';

export type { KubeObject } from './meta.js';
export type { Images } from './recorder.js';

export interface RenderOptions extends RecorderConfigOptions, SyslogOptions {
  readonly images: Images;
}

/**
 * Storage (PV, PVC), recorder (ConfigMap, Deployment, Service), syslog (ConfigMap, Deployment, Service),
 * each with its desired-hash annotation. The recorder host key Secret is not here: it is created once
 * in the cluster (desired/hostkey.ts), never applied.
 */
export function renderObjects(cr: SessionRecording, opts: RenderOptions): KubeObject[] {
  return [...buildStorage(cr), ...buildRecorder(cr, opts), ...buildSyslog(cr, opts)].map(withDesiredHash);
}
