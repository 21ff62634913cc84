#!/usr/bin/env node
// Test stand-in for ssh (`scp -S`, `sftp -S`) or for the sftp server (`sftp -D`): runs the real server side
// locally (sftp-server, or `sh -c '<scp -t|-f ...>'`), relays both directions untouched and copies them, in the
// order seen, as frames to the unix socket $SREC_TEE_SOCKET — what the bastion's relay does with a tracker.
// Frame: 1 byte type ('H' header JSON | 'C' client->server | 'S' server->client | 'X' exit JSON), uint32 length, payload.
// Honors backpressure: while the socket is full, neither side is read.
import { spawn } from 'node:child_process';
import net from 'node:net';

const sftpServer = process.env.SREC_TEE_SFTP_SERVER ?? '/usr/lib/openssh/sftp-server';
const args = process.argv.slice(2);
const dd = args.indexOf('--');
let header;
if (dd >= 0) {
  const command = args.slice(dd + 2).join(' ');
  header = args.slice(0, dd).includes('-s') ? { kind: 'subsystem', command } : { kind: 'exec', command };
} else {
  header = { kind: 'subsystem', command: 'sftp' };
}
if (header.kind === 'subsystem' && header.command !== 'sftp') {
  process.stderr.write(`transfer-tee: unknown subsystem ${header.command}\n`);
  process.exit(1);
}

const sock = net.createConnection(process.env.SREC_TEE_SOCKET);
const child =
  header.kind === 'subsystem'
    ? spawn(sftpServer, [], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn('/bin/sh', ['-c', header.command], { stdio: ['pipe', 'pipe', 'inherit'] });

let paused = 0;
const pause = () => {
  if (paused++ === 0) {
    process.stdin.pause();
    child.stdout.pause();
  }
};
const resume = () => {
  if (--paused === 0) {
    process.stdin.resume();
    child.stdout.resume();
  }
};

function frame(type, payload) {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(payload.length, 1);
  sock.write(head);
  if (!sock.write(payload)) {
    pause();
    sock.once('drain', resume);
  }
}

frame('H', Buffer.from(JSON.stringify(header)));
process.stdin.on('data', (d) => {
  frame('C', d);
  if (!child.stdin.write(d)) {
    pause();
    child.stdin.once('drain', resume);
  }
});
process.stdin.on('end', () => child.stdin.end());
child.stdin.on('error', () => undefined);
child.stdout.on('data', (d) => {
  frame('S', d);
  if (!process.stdout.write(d)) {
    pause();
    process.stdout.once('drain', resume);
  }
});
let stdoutDone = false;
let exit;
const finish = () => {
  if (!stdoutDone || exit === undefined) return;
  frame('X', Buffer.from(JSON.stringify({ code: exit })));
  sock.end(() => process.exit(exit));
};
child.stdout.on('end', () => {
  stdoutDone = true;
  finish();
});
child.on('exit', (code) => {
  exit = code ?? 1;
  finish();
});
