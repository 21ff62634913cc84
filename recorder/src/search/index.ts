// The auditor's side of the trail, for in-process callers (tests, e2e, other tools): the same functions
// `srec sessions`, `search`, `play` and `verify` use.
export { listSessions, summarize, type SessionSummary } from './sessions.js';
export { searchSessions, SearchUsageError, type SearchHit, type SearchOptions, type SearchResult, type SearchStats } from './query.js';
export { verifySessions, verifySession, sha256File, type VerifyResult, type SessionVerification, type VerifyFinding } from './verify.js';
export { transcript, scanTranscript, type Transcript, type TranscriptLine, type Stream } from './transcript.js';
export { play, textTranscript, type PlayOptions, type PlayResult } from './play.js';
export { openIndex, SessionIndex, INDEX_DIR, type IndexMeta } from './index-store.js';
export { OutputTerminal, InputEditor, timeOfSpan, type TextLine } from './terminal.js';
export {
  scanSessions,
  resolveSession,
  readCast,
  parseManifest,
  castFiles,
  formatProblem,
  type Manifest,
  type SessionRef,
  type TrailProblem,
  type CastHeader,
} from './trail-files.js';
