// The per-host forwarding policy (CONTRACT §6): whether a forwarding request may pass, and when not, the one
// line the person is told. Pure. `local` (direct-tcpip) and `remote` (tcpip-forward) are relayed when allowed;
// the other kinds are refused either way until the recorder relays and records them.
import type { ForwardingKind, ResolvedHost } from '../config.js';

/** What each kind is, in the words of the ssh options that ask for it. */
const KIND_LABEL: Readonly<Record<ForwardingKind, string>> = {
  local: 'local forwarding (ssh -L/-D/-W/-J)',
  remote: 'remote forwarding (ssh -R)',
  agent: 'agent forwarding (ssh -A)',
  x11: 'X11 forwarding (ssh -X/-Y)',
  unixSockets: 'Unix socket forwarding (streamlocal)',
};

/** The kinds this recorder relays when the policy allows them. */
const RELAYED: ReadonlySet<ForwardingKind> = new Set(['local', 'remote']);

export interface ForwardRefusal {
  /** `forwarding_off`: the host's policy; `not_relayed`: allowed, but this recorder does not relay the kind yet. */
  readonly reason: 'forwarding_off' | 'not_relayed';
  /** One line for the person (the channel-open failure's description, which OpenSSH prints). */
  readonly message: string;
}

/** undefined: let it pass. */
export function forwardingRefusal(host: Pick<ResolvedHost, 'name' | 'forwarding'>, kind: ForwardingKind): ForwardRefusal | undefined {
  const what = `${KIND_LABEL[kind]} ${kind === 'local' ? 'to' : 'on'} ${host.name}`;
  if (!host.forwarding[kind]) {
    return { reason: 'forwarding_off', message: `srec: ${what} is off (spec.recorder.hosts[${host.name}].forwarding.${kind})` };
  }
  if (!RELAYED.has(kind)) return { reason: 'not_relayed', message: `srec: ${what} is allowed but not relayed by this recorder version` };
  return undefined;
}
