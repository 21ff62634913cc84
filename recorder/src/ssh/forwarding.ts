// The per-host forwarding policy (CONTRACT §6): whether a forwarding request may pass, and when not, the one
// line the person is told. Pure. Every kind is relayed and recorded where the host allows it: `local`
// (direct-tcpip), `remote` (tcpip-forward), `agent` (auth-agent channels), `x11` and `unixSockets`
// (streamlocal both ways).
import type { ForwardingKind, ResolvedHost } from '../config.js';

/** What each kind is, in the words of the ssh options that ask for it. */
const KIND_LABEL: Readonly<Record<ForwardingKind, string>> = {
  local: 'local forwarding (ssh -L/-D/-W/-J)',
  remote: 'remote forwarding (ssh -R)',
  agent: 'agent forwarding (ssh -A)',
  x11: 'X11 forwarding (ssh -X/-Y)',
  unixSockets: 'Unix socket forwarding (streamlocal)',
};

export interface ForwardRefusal {
  /** `forwarding_off`: the host's policy. */
  readonly reason: 'forwarding_off';
  /** One line for the person (the channel-open failure's description, which OpenSSH prints). */
  readonly message: string;
}

/** undefined: let it pass. */
export function forwardingRefusal(host: Pick<ResolvedHost, 'name' | 'forwarding'>, kind: ForwardingKind): ForwardRefusal | undefined {
  if (host.forwarding[kind]) return undefined;
  const what = `${KIND_LABEL[kind]} ${kind === 'local' ? 'to' : 'on'} ${host.name}`;
  return { reason: 'forwarding_off', message: `srec: ${what} is off (spec.recorder.hosts[${host.name}].forwarding.${kind})` };
}
