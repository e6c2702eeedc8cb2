/**
 * Go's `filepath.Match` syntax for one path element: `*`, `?`, `[...]` / `[^...]` classes with ranges, and `\`
 * escapes. Returns undefined for a malformed pattern (an unterminated class), like Go's ErrBadPattern.
 */
export function globToRegExp(pattern: string): RegExp | undefined {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '\\') {
      i += 1;
      if (i >= pattern.length) return undefined;
      source += escapeRegExp(pattern[i] as string);
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) return undefined;
      let body = pattern.slice(i + 1, end);
      let negate = false;
      if (body.startsWith('^') || body.startsWith('!')) {
        negate = true;
        body = body.slice(1);
      }
      source += `[${negate ? '^' : ''}${body.replace(/[\]\\^]/g, '\\$&')}]`;
      i = end;
    } else source += escapeRegExp(c);
  }
  try {
    return new RegExp(`^${source}$`, 's');
  } catch {
    return undefined;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
