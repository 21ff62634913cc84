// Fixtures for tests that need real OpenSSH around the recorder (testing/ has the parts the benchmarks share).
export { freePort, makeKey, sshArgs, sshdAvailable, startSshd, waitForPort, type KeyPair, type Sshd, type SshdOptions, type SshTarget } from '../../../testing/openssh.js';
export { waitFor } from './ports.js';
export { runSsh, spawnSsh, collect, openShell, typeSudoSuCorrected, type OpenShell, type TypedSudoSu, type SshResult, type RunOptions } from './ssh.js';
export { startEchoServer, type EchoServer } from './echo.js';
export { startRecorder, writeRecorderConfig, type TestRecorder, type TestRecorderOptions } from './recorder.js';
export { recordShellAndUpload, sftpBatch, startLab, type Lab, type LabOptions } from './lab.js';
