export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** `<Root xmlns=...>children</Root>` with the XML declaration; children are already-rendered XML. */
export function doc(root: string, children: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${NS}">${children}</${root}>`;
}

export function el(name: string, value: string | number | boolean): string {
  return `<${name}>${esc(String(value))}</${name}>`;
}

export function errorXml(code: string, message: string, resource: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${el('Code', code)}${el('Message', message)}${el('Resource', resource)}${el('RequestId', requestId)}</Error>`;
}

function unesc(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_m, e: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (named[e.toLowerCase()]) return named[e.toLowerCase()]!;
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

/**
 * The parts of a CompleteMultipartUpload body. Only this flat shape is accepted (no DTD, no entities beyond the five
 * predefined ones and character references), so no XML parser feature can be abused.
 */
export function parseCompleteParts(xml: string): Array<{ partNumber: number; etag: string }> | undefined {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return undefined;
  if (!/<CompleteMultipartUpload[\s>]/.test(xml)) return undefined;
  const parts: Array<{ partNumber: number; etag: string }> = [];
  for (const m of xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
    const body = m[1]!;
    const num = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(body)?.[1];
    const etag = /<ETag>([\s\S]*?)<\/ETag>/.exec(body)?.[1];
    if (num === undefined || etag === undefined) return undefined;
    parts.push({ partNumber: Number(num), etag: unesc(etag).trim().replace(/^"|"$/g, '') });
  }
  return parts.length > 0 ? parts : undefined;
}
