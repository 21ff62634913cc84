// The auditor's side of the trail, for in-process callers (tests, e2e, other tools): the same functions
// `srec sessions`, `search`, `play` and `verify` use.
export { listSessions, summarize, type SessionSummary } from './sessions.js';
export { searchSessions, SearchUsageError, type SearchHit, type SearchOptions, type SearchResult, type SearchStats } from './query.js';
export { verifySessions, verifySession, type VerifyResult, type SessionVerification, type VerifyFinding } from './verify.js';
export { transcript, scanTranscript, type Transcript, type TranscriptLine, type Stream } from './transcript.js';
export { play, textTranscript, type PlayOptions, type PlayResult } from './play.js';
export { openIndex, SessionIndex, type IndexMeta } from './index-store.js';
export { OutputTerminal, InputEditor, timeOfSpan, type TextLine } from './terminal.js';
// The trail itself, read through its one owner (recorder/src/trail).
export { scanSessions, resolveSession, castFiles, formatProblem, type StoredSession, type TrailProblem } from '../trail/sessions.js';
export { readCast, type CastVisitor, type CastReadResult } from '../trail/reader.js';
export { parseManifest, type Manifest } from '../trail/manifest.js';
export type { CastHeader } from '../trail/asciicast.js';
export { sha256File } from '../trail/digest.js';
export { INDEX_DIR } from '../trail/paths.js';
