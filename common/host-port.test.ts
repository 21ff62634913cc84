import { listenAddress, parseHostPort, requireHostPort } from './host-port.js';

describe('parseHostPort', () => {
  it('splits a name, an IPv4 and a bracketed IPv6 address from the port', () => {
    // GIVEN addresses as the config files write them WHEN they are split THEN host and port come apart
    expect(parseHostPort('prod-syslog:5514')).toEqual({ host: 'prod-syslog', port: 5514 });
    expect(parseHostPort('10.0.0.5:22')).toEqual({ host: '10.0.0.5', port: 22 });
    expect(parseHostPort('[fd00::5]:2222')).toEqual({ host: 'fd00::5', port: 2222 });
    // AND the last colon separates the port of an unbracketed IPv6 address
    expect(parseHostPort('::ffff:10.1.2.3:51234')).toEqual({ host: '::ffff:10.1.2.3', port: 51234 });
  });

  it('refuses what is not host:port', () => {
    // GIVEN addresses without a host, without a port, with a port out of range or stray brackets
    const bad = ['syslog', ':5514', 'host:', 'host:99999', 'host:0', 'host:22x', '[]:22', '[::1:22', 'a]:22'];
    // WHEN they are split THEN none is an address
    expect(bad.map((a) => parseHostPort(a))).toEqual(bad.map(() => undefined));
  });

  it('takes the default host and port 0 only when asked to', () => {
    // GIVEN a listen-style address without a host, and port 0
    // WHEN a default host and port 0 are allowed THEN they are used
    expect(parseHostPort(':2222', { defaultHost: '0.0.0.0' })).toEqual({ host: '0.0.0.0', port: 2222 });
    expect(parseHostPort('2222', { defaultHost: '0.0.0.0' })).toEqual({ host: '0.0.0.0', port: 2222 });
    expect(parseHostPort('127.0.0.1:0', { minPort: 0 })).toEqual({ host: '127.0.0.1', port: 0 });
    // AND a bracketed empty host is no host even with a default
    expect(parseHostPort('[]:22', { defaultHost: '0.0.0.0' })).toBeUndefined();
  });
});

describe('requireHostPort and listenAddress', () => {
  it('name the field and the accepted ports in the error', () => {
    // GIVEN bad addresses WHEN they are required THEN the error says which field and what is expected
    expect(() => requireHostPort('syslog', 'audit.syslog.address')).toThrow('audit.syslog.address: "syslog" is not host:port with a port from 1 to 65535');
    expect(() => listenAddress('nope:99999')).toThrow('listen: "nope:99999" is not host:port with a port from 0 to 65535');
    expect(() => listenAddress('x:1:', 'probes.listen')).toThrow('probes.listen: "x:1:" is not host:port with a port from 0 to 65535');
  });

  it('reads a listen address with every interface as the default host', () => {
    expect(listenAddress('0.0.0.0:2222')).toEqual({ host: '0.0.0.0', port: 2222 });
    expect(listenAddress('9090')).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(listenAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
  });
});
