// `host:port` addresses as srec's config files write them: `db-1:5514`, `10.0.0.5:22`, `[fd00::5]:22`.
// The last colon separates the port, so an unbracketed IPv6 address still splits (`::1:22` -> ::1, 22).

export interface HostPort {
  /** Without the brackets of `[v6]:port`. */
  readonly host: string;
  readonly port: number;
}

export interface HostPortOptions {
  /** The lowest port accepted: 0 for a listen address (a free port), 1 for a peer. @default 1 */
  readonly minPort?: 0 | 1;
  /** Taken when the address has no host (`:2222` or `2222`). @default none: a host is required */
  readonly defaultHost?: string;
}

/** `host:port` or `[v6]:port` split; undefined when it is not one. */
export function parseHostPort(address: string, opts: HostPortOptions = {}): HostPort | undefined {
  const i = address.lastIndexOf(':');
  const portText = address.slice(i + 1);
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port < (opts.minPort ?? 1) || port > 65535) return undefined;
  const bracketed = /^\[([^\]]*)\]$/.exec(address.slice(0, Math.max(i, 0)));
  const host = bracketed ? bracketed[1]! : address.slice(0, Math.max(i, 0));
  if (host === '' || (!bracketed && /[[\]]/.test(host))) {
    return host === '' && !bracketed && opts.defaultHost !== undefined ? { host: opts.defaultHost, port } : undefined;
  }
  return { host, port };
}

/** parseHostPort, or an error naming the field: `audit.syslog.address: "x" is not host:port with a port from 1 to 65535`. */
export function requireHostPort(address: string, field: string, opts: HostPortOptions = {}): HostPort {
  const hp = parseHostPort(address, opts);
  if (hp === undefined) throw new Error(`${field}: "${address}" is not host:port with a port from ${opts.minPort ?? 1} to 65535`);
  return hp;
}

/** Where a server listens: `host:port`, `[v6]:port`, or `:port` / `port` for every interface; port 0 picks a free one. */
export function listenAddress(listen: string, field = 'listen'): HostPort {
  return requireHostPort(listen, field, { minPort: 0, defaultHost: '0.0.0.0' });
}

/**
 * A peer's address as srec shows it (logs, audit events, manifests): `10.0.0.5:51234`, `[fd00::5]:51234`.
 * An IPv4 peer on a dual-stack (`[::]`) listener arrives as `::ffff:10.0.0.5` and is shown as plain IPv4.
 */
export function formatPeer(ip: string | undefined, port: number | undefined): string {
  const host = (ip ?? 'unknown').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  return `${host.includes(':') ? `[${host}]` : host}:${port ?? 0}`;
}
