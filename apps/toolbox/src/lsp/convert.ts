import type { CompletionItem, CompletionList, LspRange, LspSymbol } from '@shoal/contracts';

/*
 * Servers answer in any of the shapes LSP allows; the toolbox API has one shape per operation. These functions do
 * that mapping and nothing else (pure, tested small).
 */

interface ServerCompletionItem {
  label: string;
  kind?: number;
  detail?: string;
  documentation?: unknown;
  sortText?: string;
  filterText?: string;
  insertText?: string;
  textEdit?: { newText?: string };
}

/** CompletionItem[] | CompletionList | null -> CompletionList with the fields the SDK reads. */
export function toCompletionList(result: unknown): CompletionList {
  if (result === null || result === undefined) return { isIncomplete: false, items: [] };
  const list = Array.isArray(result)
    ? { isIncomplete: false, items: result as ServerCompletionItem[] }
    : (result as { isIncomplete?: boolean; items?: ServerCompletionItem[] });
  return {
    isIncomplete: list.isIncomplete === true,
    items: (list.items ?? []).filter((item) => item && typeof item.label === 'string').map(toCompletionItem),
  };
}

function toCompletionItem(item: ServerCompletionItem): CompletionItem {
  const out: CompletionItem = { label: item.label };
  if (typeof item.kind === 'number') out.kind = item.kind;
  if (typeof item.detail === 'string') out.detail = item.detail;
  if (item.documentation !== undefined && item.documentation !== null) out.documentation = item.documentation;
  if (typeof item.sortText === 'string') out.sortText = item.sortText;
  if (typeof item.filterText === 'string') out.filterText = item.filterText;
  // Servers that edit a range give the text there rather than in insertText; what is inserted is the same.
  const insert = typeof item.insertText === 'string' ? item.insertText : item.textEdit?.newText;
  if (typeof insert === 'string') out.insertText = insert;
  return out;
}

interface DocumentSymbol {
  name: string;
  kind: number;
  range: LspRange;
  children?: DocumentSymbol[];
}

interface SymbolInformation {
  name: string;
  kind: number;
  location: { uri: string; range?: LspRange };
}

const ZERO_RANGE: LspRange = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

function isSymbolInformation(value: unknown): value is SymbolInformation {
  return typeof value === 'object' && value !== null && 'location' in value;
}

function fromSymbolInformation(s: SymbolInformation): LspSymbol {
  return { kind: s.kind, name: s.name, location: { uri: s.location.uri, range: s.location.range ?? ZERO_RANGE } };
}

/**
 * DocumentSymbol[] (a tree) or SymbolInformation[] -> a flat LspSymbol[]: each symbol, then its children depth
 * first, located by its full range in `uri`.
 */
export function flattenDocumentSymbols(result: unknown, uri: string): LspSymbol[] {
  if (!Array.isArray(result)) return [];
  const out: LspSymbol[] = [];
  const visit = (s: DocumentSymbol) => {
    out.push({ kind: s.kind, name: s.name, location: { uri, range: s.range } });
    for (const child of s.children ?? []) visit(child);
  };
  for (const entry of result as unknown[]) {
    if (isSymbolInformation(entry)) out.push(fromSymbolInformation(entry));
    else if (entry && typeof entry === 'object' && 'range' in entry) visit(entry as DocumentSymbol);
  }
  return out;
}

/** SymbolInformation[] | WorkspaceSymbol[] (whose location may lack a range) | null -> LspSymbol[]. */
export function toWorkspaceSymbols(result: unknown): LspSymbol[] {
  if (!Array.isArray(result)) return [];
  return (result as unknown[]).filter(isSymbolInformation).map(fromSymbolInformation);
}

/** Where `position` lies against `text`: undefined when inside (the end of a line counts), else why not. */
export function positionProblem(text: string, position: { line: number; character: number }): string | undefined {
  const lines = text.split(/\r\n|\r|\n/);
  if (position.line >= lines.length) return `line ${position.line} is out of range: the document has ${lines.length} lines (0-based)`;
  // LSP characters are UTF-16 code units, which is what a JavaScript string's length counts.
  const length = lines[position.line]!.length;
  if (position.character > length) return `character ${position.character} is out of range: line ${position.line} has ${length} characters`;
  return undefined;
}
