// The mapping from the shapes language servers answer in to the toolbox API's shapes, and the position check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flattenDocumentSymbols, positionProblem, toCompletionList, toWorkspaceSymbols } from '../src/lsp/convert.js';

const range = (a: number, b: number, c: number, d: number) => ({ start: { line: a, character: b }, end: { line: c, character: d } });

describe('LSP result mapping', () => {
  it('completion: a bare item array, a list, null; textEdit text becomes insertText; unknown fields are dropped', () => {
    assert.deepEqual(toCompletionList(null), { isIncomplete: false, items: [] });
    assert.deepEqual(toCompletionList([{ label: 'a', kind: 2, data: { x: 1 } }]), { isIncomplete: false, items: [{ label: 'a', kind: 2 }] });
    assert.deepEqual(
      toCompletionList({
        isIncomplete: true,
        items: [
          { label: 'b', detail: 'd', documentation: { kind: 'markdown', value: '*x*' }, sortText: '1', filterText: 'b', textEdit: { newText: '.b', range: range(0, 0, 0, 1) } },
          { label: 'c', insertText: 'c()', textEdit: { newText: 'ignored' } },
        ],
      }),
      {
        isIncomplete: true,
        items: [
          { label: 'b', detail: 'd', documentation: { kind: 'markdown', value: '*x*' }, sortText: '1', filterText: 'b', insertText: '.b' },
          { label: 'c', insertText: 'c()' },
        ],
      },
    );
  });

  it('document symbols: a tree is flattened depth first with the caller uri; SymbolInformation is kept', () => {
    const tree = [
      { name: 'A', kind: 5, range: range(0, 0, 9, 1), selectionRange: range(0, 6, 0, 7), children: [{ name: 'm', kind: 6, range: range(1, 2, 3, 3), selectionRange: range(1, 2, 1, 3) }] },
      { name: 'f', kind: 12, range: range(10, 0, 12, 1), selectionRange: range(10, 9, 10, 10) },
    ];
    assert.deepEqual(
      flattenDocumentSymbols(tree, 'file://x.ts').map((s) => [s.name, s.kind, s.location.uri, s.location.range.start.line]),
      [
        ['A', 5, 'file://x.ts', 0],
        ['m', 6, 'file://x.ts', 1],
        ['f', 12, 'file://x.ts', 10],
      ],
    );
    const info = [{ name: 'g', kind: 12, location: { uri: 'file:///y.py', range: range(4, 0, 5, 0) }, containerName: 'z' }];
    assert.deepEqual(flattenDocumentSymbols(info, 'file://ignored'), [{ name: 'g', kind: 12, location: { uri: 'file:///y.py', range: range(4, 0, 5, 0) } }]);
    assert.deepEqual(flattenDocumentSymbols(null, 'file://x'), []);
  });

  it('workspace symbols: a location without a range gets an empty one at the start', () => {
    assert.deepEqual(toWorkspaceSymbols([{ name: 'W', kind: 5, location: { uri: 'file:///w.ts' } }]), [
      { name: 'W', kind: 5, location: { uri: 'file:///w.ts', range: range(0, 0, 0, 0) } },
    ]);
    assert.deepEqual(toWorkspaceSymbols(undefined), []);
  });

  it('positions: lines are 0-based, the end of a line is inside, UTF-16 units count', () => {
    const text = 'ab\r\n\u{1F600}x\nlast';
    assert.equal(positionProblem(text, { line: 0, character: 2 }), undefined);
    assert.match(positionProblem(text, { line: 0, character: 3 })!, /character 3 is out of range: line 0 has 2 characters/);
    assert.equal(positionProblem(text, { line: 1, character: 3 }), undefined, 'an emoji is two UTF-16 units');
    assert.match(positionProblem(text, { line: 1, character: 4 })!, /out of range/);
    assert.equal(positionProblem(text, { line: 2, character: 4 }), undefined);
    assert.match(positionProblem(text, { line: 3, character: 0 })!, /line 3 is out of range: the document has 3 lines/);
  });
});
