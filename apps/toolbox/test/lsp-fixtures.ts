import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A TypeScript and a Python project with one class, one function and a member access at a known position. */
export const TS_SOURCE = `export class Base {
  width = 1;
  area(): number {
    return this.width * 2;
  }
}

export function makeBase(): Base {
  return new Base();
}

const obj1 = new Base();
obj1.
`;

export const PY_SOURCE = `class Base:
    def __init__(self):
        self.width = 1

    def area(self) -> int:
        return self.width * 2


def make_base() -> Base:
    return Base()


obj1 = Base()
obj1.
`;

/** Where the completion after `obj1.` is asked. */
export const TS_MEMBER_ACCESS = { line: 12, character: 5 };
export const PY_MEMBER_ACCESS = { line: 13, character: 5 };

export function writeProjects(root: string): { ts: string; py: string } {
  const ts = join(root, 'ts-project');
  const py = join(root, 'py-project');
  mkdirSync(join(ts, 'src'), { recursive: true });
  mkdirSync(py, { recursive: true });
  writeFileSync(join(ts, 'src', 'shapes.ts'), TS_SOURCE);
  writeFileSync(join(ts, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, target: 'ES2022' } }));
  writeFileSync(join(py, 'shapes.py'), PY_SOURCE);
  return { ts, py };
}
