/*
 * Every operation of the toolbox API as the public API serves it under `/api/toolbox/{sandboxId}/toolbox/…`: the
 * reference documents them there, and the SDK's generated client calls them there. The API only proxies these
 * requests to the sandbox's toolbox, so it has no routes of its own to describe them; this table is what its OpenAPI
 * document is built from, and the toolbox's own route table is checked against it, so the two cannot drift.
 */
import type { TSchema } from '@sinclair/typebox';
import * as cu from './toolbox-computer-use.js';
import * as lsp from './toolbox-lsp.js';
import * as tb from './toolbox.js';

/** The DTOs the operations name, under the names the reference's document gives them. */
export const TOOLBOX_SCHEMAS: Record<string, TSchema> = {
  FileInfo: tb.FileInfo,
  Match: tb.Match,
  SearchFilesResponse: tb.SearchFilesResponse,
  ReplaceRequest: tb.ReplaceRequest,
  ReplaceResult: tb.ReplaceResult,
  DownloadFiles: tb.BulkDownloadRequest,
  ExecuteRequest: tb.ExecuteRequest,
  ExecuteResponse: tb.ExecuteResponse,
  CreateSessionRequest: tb.CreateSessionRequest,
  Command: tb.SessionCommand,
  Session: tb.Session,
  SessionExecuteRequest: tb.SessionExecuteRequest,
  SessionExecuteResponse: tb.SessionExecuteResponse,
  PtyCreateRequest: tb.PtyCreateRequest,
  PtyCreateResponse: tb.PtyCreateResponse,
  PtyResizeRequest: tb.PtyResizeRequest,
  PtySessionInfo: tb.PtySessionInfo,
  PtyListResponse: tb.PtyListResponse,
  GitCloneRequest: tb.GitCloneRequest,
  GitRepoRequest: tb.GitRepoRequest,
  GitAddRequest: tb.GitAddRequest,
  GitCommitRequest: tb.GitCommitRequest,
  GitCommitResponse: tb.GitCommitResponse,
  GitBranchRequest: tb.GitBranchRequest,
  GitDeleteBranchRequest: tb.GitBranchRequest,
  GitCheckoutRequest: tb.GitCheckoutRequest,
  ListBranchResponse: tb.GitBranchesResponse,
  GitStatus: tb.GitStatus,
  GitCommitInfo: tb.GitCommitInfo,
  ProjectDirResponse: tb.DirResponse,
  UserHomeDirResponse: tb.DirResponse,
  WorkDirResponse: tb.DirResponse,
  LspServerRequest: lsp.LspServerRequest,
  LspDocumentRequest: lsp.LspDocumentRequest,
  LspCompletionParams: lsp.LspCompletionParams,
  CompletionList: lsp.CompletionList,
  LspSymbol: lsp.LspSymbol,
  MouseMoveRequest: cu.MouseMoveRequest,
  MouseClickRequest: cu.MouseClickRequest,
  MouseDragRequest: cu.MouseDragRequest,
  MouseScrollRequest: cu.MouseScrollRequest,
  MousePosition: cu.MousePosition,
  MouseMoveResponse: cu.MousePosition,
  MouseClickResponse: cu.MousePosition,
  MouseDragResponse: cu.MousePosition,
  MouseScrollResponse: cu.MouseScrollResponse,
  KeyboardTypeRequest: cu.KeyboardTypeRequest,
  KeyboardPressRequest: cu.KeyboardPressRequest,
  KeyboardHotkeyRequest: cu.KeyboardHotkeyRequest,
  ComputerUseStartResponse: cu.ComputerUseStartResponse,
  ComputerUseStopResponse: cu.ComputerUseStopResponse,
  ComputerUseStatusResponse: cu.ComputerUseStatusResponse,
  ProcessStatusResponse: cu.ProcessStatusResponse,
  ProcessLogsResponse: cu.ProcessLogsResponse,
  ProcessErrorsResponse: cu.ProcessErrorsResponse,
  ProcessRestartResponse: cu.ProcessRestartResponse,
  ScreenshotResponse: cu.ScreenshotResponse,
  RegionScreenshotResponse: cu.ScreenshotResponse,
  CompressedScreenshotResponse: cu.ScreenshotResponse,
  DisplayInfoResponse: cu.DisplayInfoResponse,
  WindowsResponse: cu.WindowsResponse,
};
export type ToolboxSchemaName = keyof typeof TOOLBOX_SCHEMAS;

export interface ToolboxParam {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  type: 'string' | 'integer' | 'number' | 'boolean';
}

/** What an operation answers on success. */
export type ToolboxAnswer =
  | { kind: 'empty' }
  | { kind: 'json'; schema: ToolboxSchemaName; array?: boolean }
  /** A file's bytes (application/octet-stream). */
  | { kind: 'binary' }
  /** multipart/form-data, one part per file. */
  | { kind: 'multipart' }
  /** Plain text, or a WebSocket when the client asks to upgrade (log follows). */
  | { kind: 'text' };

export interface ToolboxOperation {
  operationId: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** Below `/toolbox/{sandboxId}/toolbox`, with `{name}` path parameters. */
  path: string;
  summary: string;
  tag: 'toolbox' | 'lsp' | 'computer-use';
  params: ToolboxParam[];
  body?: { kind: 'json'; schema: ToolboxSchemaName } | { kind: 'multipart'; fields: 'file' | 'files' };
  status: 200 | 201 | 204;
  answer: ToolboxAnswer;
  /** Further success statuses, e.g. 202 for a command started in the background. */
  alsoAnswers?: { status: number; schema: ToolboxSchemaName }[];
}

const q = (name: string, required = true, type: ToolboxParam['type'] = 'string'): ToolboxParam => ({ name, in: 'query', required, type });
const p = (name: string): ToolboxParam => ({ name, in: 'path', required: true, type: 'string' });
const json = (schema: ToolboxSchemaName, array = false): ToolboxAnswer => ({ kind: 'json', schema, ...(array ? { array } : {}) });
const body = (schema: ToolboxSchemaName) => ({ kind: 'json' as const, schema });
const empty: ToolboxAnswer = { kind: 'empty' };

type Op = Omit<ToolboxOperation, 'status' | 'tag'> & Partial<Pick<ToolboxOperation, 'status' | 'tag'>>;
const op = (o: Op): ToolboxOperation => ({ status: 200, tag: 'toolbox', ...o });

export const TOOLBOX_OPERATIONS: readonly ToolboxOperation[] = [
  // files
  op({ operationId: 'listFiles', method: 'GET', path: '/files', summary: 'List files in a directory', params: [q('path', false)], answer: json('FileInfo', true) }),
  op({ operationId: 'deleteFile', method: 'DELETE', path: '/files', summary: 'Delete a file or directory', params: [q('path'), q('recursive', false, 'boolean')], answer: empty }),
  op({ operationId: 'getFileInfo', method: 'GET', path: '/files/info', summary: 'Get file info', params: [q('path')], answer: json('FileInfo') }),
  op({ operationId: 'downloadFile', method: 'GET', path: '/files/download', summary: 'Download a file', params: [q('path')], answer: { kind: 'binary' } }),
  op({ operationId: 'downloadFiles', method: 'POST', path: '/files/bulk-download', summary: 'Download several files as one multipart/form-data answer', params: [], body: body('DownloadFiles'), answer: { kind: 'multipart' } }),
  op({ operationId: 'uploadFile', method: 'POST', path: '/files/upload', summary: 'Upload a file', params: [q('path')], body: { kind: 'multipart', fields: 'file' }, answer: empty }),
  op({ operationId: 'uploadFiles', method: 'POST', path: '/files/bulk-upload', summary: 'Upload several files (files[i].path, files[i].file)', params: [], body: { kind: 'multipart', fields: 'files' }, answer: empty }),
  op({ operationId: 'createFolder', method: 'POST', path: '/files/folder', summary: 'Create a folder', params: [q('path'), q('mode')], answer: empty }),
  op({ operationId: 'moveFile', method: 'POST', path: '/files/move', summary: 'Move or rename a file', params: [q('source'), q('destination')], answer: empty }),
  op({ operationId: 'setFilePermissions', method: 'POST', path: '/files/permissions', summary: 'Set owner, group and mode of a file', params: [q('path'), q('owner', false), q('group', false), q('mode', false)], answer: empty }),
  op({ operationId: 'findInFiles', method: 'GET', path: '/files/find', summary: 'Search for text in files', params: [q('path'), q('pattern')], answer: json('Match', true) }),
  op({ operationId: 'searchFiles', method: 'GET', path: '/files/search', summary: 'Search for files by name pattern', params: [q('path'), q('pattern')], answer: json('SearchFilesResponse') }),
  op({ operationId: 'replaceInFiles', method: 'POST', path: '/files/replace', summary: 'Replace text in several files', params: [], body: body('ReplaceRequest'), answer: json('ReplaceResult', true) }),
  // git
  op({ operationId: 'gitCloneRepository', method: 'POST', path: '/git/clone', summary: 'Clone a git repository', params: [], body: body('GitCloneRequest'), answer: empty }),
  op({ operationId: 'gitGetStatus', method: 'GET', path: '/git/status', summary: 'Get the status of a git repository', params: [q('path')], answer: json('GitStatus') }),
  op({ operationId: 'gitAddFiles', method: 'POST', path: '/git/add', summary: 'Stage files', params: [], body: body('GitAddRequest'), answer: empty }),
  op({ operationId: 'gitCommitChanges', method: 'POST', path: '/git/commit', summary: 'Commit staged changes', params: [], body: body('GitCommitRequest'), answer: json('GitCommitResponse') }),
  op({ operationId: 'gitListBranches', method: 'GET', path: '/git/branches', summary: 'List branches', params: [q('path')], answer: json('ListBranchResponse') }),
  op({ operationId: 'gitCreateBranch', method: 'POST', path: '/git/branches', summary: 'Create a branch', params: [], body: body('GitBranchRequest'), answer: empty }),
  op({ operationId: 'gitDeleteBranch', method: 'DELETE', path: '/git/branches', summary: 'Delete a branch', params: [], body: body('GitDeleteBranchRequest'), answer: empty }),
  op({ operationId: 'gitCheckoutBranch', method: 'POST', path: '/git/checkout', summary: 'Check out a branch or commit', params: [], body: body('GitCheckoutRequest'), answer: empty }),
  op({ operationId: 'gitPullChanges', method: 'POST', path: '/git/pull', summary: 'Pull from the remote', params: [], body: body('GitRepoRequest'), answer: empty }),
  op({ operationId: 'gitPushChanges', method: 'POST', path: '/git/push', summary: 'Push to the remote', params: [], body: body('GitRepoRequest'), answer: empty }),
  op({ operationId: 'gitGetHistory', method: 'GET', path: '/git/history', summary: 'Get the commit history', params: [q('path')], answer: json('GitCommitInfo', true) }),
  // directories
  op({ operationId: 'getProjectDir', method: 'GET', path: '/project-dir', summary: 'Get the project directory', params: [], answer: json('ProjectDirResponse') }),
  op({ operationId: 'getUserHomeDir', method: 'GET', path: '/user-home-dir', summary: "Get the sandbox user's home directory", params: [], answer: json('UserHomeDirResponse') }),
  op({ operationId: 'getWorkDir', method: 'GET', path: '/work-dir', summary: 'Get the working directory', params: [], answer: json('WorkDirResponse') }),
  // processes and sessions
  op({ operationId: 'executeCommand', method: 'POST', path: '/process/execute', summary: 'Run a command and wait for it', params: [], body: body('ExecuteRequest'), answer: json('ExecuteResponse') }),
  op({ operationId: 'createSession', method: 'POST', path: '/process/session', summary: 'Create a session', params: [], body: body('CreateSessionRequest'), answer: empty }),
  op({ operationId: 'listSessions', method: 'GET', path: '/process/session', summary: 'List sessions', params: [], answer: json('Session', true) }),
  op({ operationId: 'getSession', method: 'GET', path: '/process/session/{sessionId}', summary: 'Get a session', params: [p('sessionId')], answer: json('Session') }),
  op({ operationId: 'deleteSession', method: 'DELETE', path: '/process/session/{sessionId}', summary: 'Delete a session', params: [p('sessionId')], answer: empty }),
  op({
    operationId: 'executeSessionCommand',
    method: 'POST',
    path: '/process/session/{sessionId}/exec',
    summary: 'Run a command in a session (202 when it runs in the background)',
    params: [p('sessionId')],
    body: body('SessionExecuteRequest'),
    answer: json('SessionExecuteResponse'),
    alsoAnswers: [{ status: 202, schema: 'SessionExecuteResponse' }],
  }),
  op({ operationId: 'getSessionCommand', method: 'GET', path: '/process/session/{sessionId}/command/{commandId}', summary: 'Get a session command', params: [p('sessionId'), p('commandId')], answer: json('Command') }),
  op({ operationId: 'getSessionCommandLogs', method: 'GET', path: '/process/session/{sessionId}/command/{commandId}/logs', summary: "Get a session command's logs (follow=true streams them)", params: [p('sessionId'), p('commandId'), q('follow', false, 'boolean')], answer: { kind: 'text' } }),
  op({ operationId: 'createPTYSession', method: 'POST', path: '/process/pty', summary: 'Create a PTY session', params: [], body: body('PtyCreateRequest'), status: 201, answer: json('PtyCreateResponse') }),
  op({ operationId: 'listPTYSessions', method: 'GET', path: '/process/pty', summary: 'List PTY sessions', params: [], answer: json('PtyListResponse') }),
  op({ operationId: 'getPTYSession', method: 'GET', path: '/process/pty/{sessionId}', summary: 'Get a PTY session', params: [p('sessionId')], answer: json('PtySessionInfo') }),
  op({ operationId: 'deletePTYSession', method: 'DELETE', path: '/process/pty/{sessionId}', summary: 'Delete a PTY session', params: [p('sessionId')], answer: empty }),
  op({ operationId: 'resizePTYSession', method: 'POST', path: '/process/pty/{sessionId}/resize', summary: 'Resize a PTY session', params: [p('sessionId')], body: body('PtyResizeRequest'), answer: json('PtySessionInfo') }),
  // language servers
  op({ operationId: 'LspStart', method: 'POST', path: '/lsp/start', tag: 'lsp', summary: 'Start a language server', params: [], body: body('LspServerRequest'), answer: empty }),
  op({ operationId: 'LspStop', method: 'POST', path: '/lsp/stop', tag: 'lsp', summary: 'Stop a language server', params: [], body: body('LspServerRequest'), answer: empty }),
  op({ operationId: 'LspDidOpen', method: 'POST', path: '/lsp/did-open', tag: 'lsp', summary: 'Tell the language server a document was opened', params: [], body: body('LspDocumentRequest'), answer: empty }),
  op({ operationId: 'LspDidClose', method: 'POST', path: '/lsp/did-close', tag: 'lsp', summary: 'Tell the language server a document was closed', params: [], body: body('LspDocumentRequest'), answer: empty }),
  op({ operationId: 'LspCompletions', method: 'POST', path: '/lsp/completions', tag: 'lsp', summary: 'Completions at a position', params: [], body: body('LspCompletionParams'), answer: json('CompletionList') }),
  op({ operationId: 'LspDocumentSymbols', method: 'GET', path: '/lsp/document-symbols', tag: 'lsp', summary: 'Symbols of a document', params: [q('languageId'), q('pathToProject'), q('uri')], answer: json('LspSymbol', true) }),
  op({ operationId: 'LspWorkspaceSymbols', method: 'GET', path: '/lsp/workspace-symbols', tag: 'lsp', summary: 'Symbols of the workspace matching a query', params: [q('languageId'), q('pathToProject'), q('query')], answer: json('LspSymbol', true) }),
  // computer use
  op({ operationId: 'startComputerUse', method: 'POST', path: '/computeruse/start', tag: 'computer-use', summary: 'Start the desktop processes', params: [], answer: json('ComputerUseStartResponse') }),
  op({ operationId: 'stopComputerUse', method: 'POST', path: '/computeruse/stop', tag: 'computer-use', summary: 'Stop the desktop processes', params: [], answer: json('ComputerUseStopResponse') }),
  op({ operationId: 'getComputerUseStatus', method: 'GET', path: '/computeruse/status', tag: 'computer-use', summary: 'Status of the desktop processes', params: [], answer: json('ComputerUseStatusResponse') }),
  op({ operationId: 'getProcessStatus', method: 'GET', path: '/computeruse/process/{processName}/status', tag: 'computer-use', summary: 'Status of one desktop process', params: [p('processName')], answer: json('ProcessStatusResponse') }),
  op({ operationId: 'restartProcess', method: 'POST', path: '/computeruse/process/{processName}/restart', tag: 'computer-use', summary: 'Restart one desktop process', params: [p('processName')], answer: json('ProcessRestartResponse') }),
  op({ operationId: 'getProcessLogs', method: 'GET', path: '/computeruse/process/{processName}/logs', tag: 'computer-use', summary: 'Logs of one desktop process', params: [p('processName')], answer: json('ProcessLogsResponse') }),
  op({ operationId: 'getProcessErrors', method: 'GET', path: '/computeruse/process/{processName}/errors', tag: 'computer-use', summary: 'Errors of one desktop process', params: [p('processName')], answer: json('ProcessErrorsResponse') }),
  op({ operationId: 'getMousePosition', method: 'GET', path: '/computeruse/mouse/position', tag: 'computer-use', summary: 'Pointer position', params: [], answer: json('MousePosition') }),
  op({ operationId: 'moveMouse', method: 'POST', path: '/computeruse/mouse/move', tag: 'computer-use', summary: 'Move the pointer', params: [], body: body('MouseMoveRequest'), answer: json('MouseMoveResponse') }),
  op({ operationId: 'clickMouse', method: 'POST', path: '/computeruse/mouse/click', tag: 'computer-use', summary: 'Click', params: [], body: body('MouseClickRequest'), answer: json('MouseClickResponse') }),
  op({ operationId: 'dragMouse', method: 'POST', path: '/computeruse/mouse/drag', tag: 'computer-use', summary: 'Drag', params: [], body: body('MouseDragRequest'), answer: json('MouseDragResponse') }),
  op({ operationId: 'scrollMouse', method: 'POST', path: '/computeruse/mouse/scroll', tag: 'computer-use', summary: 'Scroll', params: [], body: body('MouseScrollRequest'), answer: json('MouseScrollResponse') }),
  op({ operationId: 'typeText', method: 'POST', path: '/computeruse/keyboard/type', tag: 'computer-use', summary: 'Type text', params: [], body: body('KeyboardTypeRequest'), answer: empty }),
  op({ operationId: 'pressKey', method: 'POST', path: '/computeruse/keyboard/key', tag: 'computer-use', summary: 'Press a key', params: [], body: body('KeyboardPressRequest'), answer: empty }),
  op({ operationId: 'pressHotkey', method: 'POST', path: '/computeruse/keyboard/hotkey', tag: 'computer-use', summary: 'Press a key combination', params: [], body: body('KeyboardHotkeyRequest'), answer: empty }),
  op({ operationId: 'takeScreenshot', method: 'GET', path: '/computeruse/screenshot', tag: 'computer-use', summary: 'Screenshot of the whole screen', params: [q('show_cursor', false, 'boolean')], answer: json('ScreenshotResponse') }),
  op({
    operationId: 'takeRegionScreenshot',
    method: 'GET',
    path: '/computeruse/screenshot/region',
    tag: 'computer-use',
    summary: 'Screenshot of a region',
    params: [q('x', true, 'integer'), q('y', true, 'integer'), q('width', true, 'integer'), q('height', true, 'integer'), q('show_cursor', false, 'boolean')],
    answer: json('RegionScreenshotResponse'),
  }),
  op({
    operationId: 'takeCompressedScreenshot',
    method: 'GET',
    path: '/computeruse/screenshot/compressed',
    tag: 'computer-use',
    summary: 'Compressed screenshot of the whole screen',
    params: [q('format', false), q('quality', false, 'integer'), q('scale', false, 'number'), q('show_cursor', false, 'boolean')],
    answer: json('CompressedScreenshotResponse'),
  }),
  op({
    operationId: 'takeCompressedRegionScreenshot',
    method: 'GET',
    path: '/computeruse/screenshot/region/compressed',
    tag: 'computer-use',
    summary: 'Compressed screenshot of a region',
    params: [
      q('x', true, 'integer'),
      q('y', true, 'integer'),
      q('width', true, 'integer'),
      q('height', true, 'integer'),
      q('format', false),
      q('quality', false, 'integer'),
      q('scale', false, 'number'),
      q('show_cursor', false, 'boolean'),
    ],
    answer: json('CompressedScreenshotResponse'),
  }),
  op({ operationId: 'getDisplayInfo', method: 'GET', path: '/computeruse/display/info', tag: 'computer-use', summary: 'Displays and their geometry', params: [], answer: json('DisplayInfoResponse') }),
  op({ operationId: 'getWindows', method: 'GET', path: '/computeruse/display/windows', tag: 'computer-use', summary: 'Open windows', params: [], answer: json('WindowsResponse') }),
];
