import { useEffect, useState } from 'preact/hooks';

// Hash routes (#/sandboxes/<id>): the API serves one index.html and reloads keep the page.
export function currentPath(): string {
  return location.hash.replace(/^#/, '') || '/sandboxes';
}

export function navigate(path: string): void {
  location.hash = path;
}

export function useRoute(): string[] {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const on = () => setPath(currentPath());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return path.split('/').filter(Boolean).map(decodeURIComponent);
}
