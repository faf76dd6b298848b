import { useEffect } from 'react';

/** The browser tab's title for a page, "<title> · Loupe". */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Loupe`;
  }, [title]);
}
