/*
 * Language-server DTOs of the toolbox API, as the SDK sends and reads them (sdk-wire-contract.md, LSP). Positions are
 * LSP's: zero-based lines and UTF-16 characters.
 */
import { Type, type Static } from '@sinclair/typebox';

export const LspServerRequest = Type.Object({ languageId: Type.String({ minLength: 1 }), pathToProject: Type.String({ minLength: 1 }) });
export type LspServerRequest = Static<typeof LspServerRequest>;

export const LspDocumentRequest = Type.Object({
  languageId: Type.String({ minLength: 1 }),
  pathToProject: Type.String({ minLength: 1 }),
  uri: Type.String({ minLength: 1 }),
});
export type LspDocumentRequest = Static<typeof LspDocumentRequest>;

export const LspPosition = Type.Object({ line: Type.Integer({ minimum: 0 }), character: Type.Integer({ minimum: 0 }) });
export type LspPosition = Static<typeof LspPosition>;

export const LspRange = Type.Object({ start: LspPosition, end: LspPosition });
export type LspRange = Static<typeof LspRange>;

export const CompletionContext = Type.Object({ triggerKind: Type.Integer(), triggerCharacter: Type.Optional(Type.String()) });
export type CompletionContext = Static<typeof CompletionContext>;

export const LspCompletionParams = Type.Object({
  languageId: Type.String({ minLength: 1 }),
  pathToProject: Type.String({ minLength: 1 }),
  uri: Type.String({ minLength: 1 }),
  position: LspPosition,
  context: Type.Optional(CompletionContext),
});
export type LspCompletionParams = Static<typeof LspCompletionParams>;

export const CompletionItem = Type.Object({
  label: Type.String(),
  kind: Type.Optional(Type.Integer()),
  detail: Type.Optional(Type.String()),
  documentation: Type.Optional(Type.Unknown()),
  sortText: Type.Optional(Type.String()),
  filterText: Type.Optional(Type.String()),
  insertText: Type.Optional(Type.String()),
});
export type CompletionItem = Static<typeof CompletionItem>;

export const CompletionList = Type.Object({ isIncomplete: Type.Boolean(), items: Type.Array(CompletionItem) });
export type CompletionList = Static<typeof CompletionList>;

export const LspLocation = Type.Object({ range: LspRange, uri: Type.String() });
export type LspLocation = Static<typeof LspLocation>;

export const LspSymbol = Type.Object({ kind: Type.Integer(), location: LspLocation, name: Type.String() });
export type LspSymbol = Static<typeof LspSymbol>;
