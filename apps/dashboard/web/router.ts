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
    // Effects run after the first paint: a hash change between the first render and here (a link followed, or a
    // script's navigation, right after load) fired no listener, and the page would show the old route for good.
    on();
    return () => removeEventListener('hashchange', on);
  }, []);
  return path.split('/').filter(Boolean).map(decodeURIComponent);
}
