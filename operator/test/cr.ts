// Test helpers: SessionRecordings from examples/ or inline YAML, validated and defaulted like the API server.
import { loadAndValidate, parseAndValidate } from '../src/api/load.js';
import type { SessionRecording } from '../src/api/types.js';

export const IMAGES = { recorder: 'srec:test', syslog: 'rsyslog:test' } as const;

export function example(name: 'nfs' | 'efs' | 'existing-claim' | 'nfs-forward', meta: Partial<SessionRecording['metadata']> = {}): SessionRecording {
  const r = loadAndValidate(`examples/${name}.yaml`);
  if (!r.ok) throw new Error(`examples/${name}.yaml: ${JSON.stringify(r.errors)}`);
  return { ...r.cr, metadata: { ...r.cr.metadata, ...meta } };
}

export function crFromYaml(text: string): SessionRecording {
  const r = parseAndValidate(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.cr;
}

/** A copy of `cr` with `spec` changed by `f` (plain objects, so tests can mutate freely). */
export function withSpec(cr: SessionRecording, f: (spec: Record<string, any>) => void): SessionRecording {
  const copy = structuredClone(cr) as { spec: Record<string, any> };
  f(copy.spec);
  return copy as unknown as SessionRecording;
}

/**
 * The pod and its first container as the restricted Pod Security profile wants them, as the operator renders
 * every pod: non-root with the image's numeric uid, nothing escalated, a read-only root, no capabilities.
 */
export function expectRestrictedPod(pod: any): void {
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
  expect(pod.containers[0].securityContext).toEqual(
    expect.objectContaining({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    }),
  );
}
