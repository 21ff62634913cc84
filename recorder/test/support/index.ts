// Fixtures for tests that need real OpenSSH around the recorder: reuse them (audit e2e, transfers, bench).
export { freePort, waitFor, waitForPort } from './ports.js';
export { makeKey, type KeyPair } from './keys.js';
export { startSshd, sshdAvailable, type Sshd, type SshdOptions } from './sshd.js';
export { runSsh, spawnSsh, sshArgs, collect, type SshResult, type SshTarget, type RunOptions } from './ssh.js';
export { startEchoServer, type EchoServer } from './echo.js';
export { startRecorder, writeRecorderConfig, type TestRecorder, type TestRecorderOptions } from './recorder.js';
export { startLab, type Lab, type LabOptions } from './lab.js';
