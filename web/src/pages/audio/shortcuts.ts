/** The annotator's keyboard shortcuts: what the page lists, and how a key press maps to one. */

export type Shortcut =
  | { kind: 'play-pause' | 'previous' | 'next' | 'play-segment' | 'zoom-in' | 'zoom-out' }
  | { kind: 'accept' | 'accept-all' | 'split' | 'delete' }
  | { kind: 'class'; index: number };

export const SHORTCUTS: { keys: string; does: string; edits: boolean }[] = [
  { keys: 'Space', does: 'play or pause', edits: false },
  { keys: '← / →', does: 'select the previous or next segment', edits: false },
  { keys: 'Enter', does: 'play the selected segment', edits: false },
  { keys: '+ / −', does: 'zoom in or out', edits: false },
  { keys: 'A', does: 'accept the selected segment', edits: true },
  { keys: 'Shift+A', does: 'accept every segment still to review', edits: true },
  { keys: '1 … 9', does: 'give the selected segment the 1st … 9th class', edits: true },
  { keys: 'S', does: 'split the selected segment at the playhead', edits: true },
  { keys: 'Delete', does: 'delete the selected segment (asks first)', edits: true },
];

export function shortcutFor(e: KeyboardEvent, classes: number): Shortcut | undefined {
  switch (e.key) {
    case ' ':
      return { kind: 'play-pause' };
    case 'ArrowLeft':
      return { kind: 'previous' };
    case 'ArrowRight':
      return { kind: 'next' };
    case 'Enter':
      return { kind: 'play-segment' };
    case '+':
    case '=':
      return { kind: 'zoom-in' };
    case '-':
      return { kind: 'zoom-out' };
    case 'a':
      return { kind: 'accept' };
    case 'A':
      return { kind: 'accept-all' };
    case 's':
      return { kind: 'split' };
    case 'Delete':
    case 'Backspace':
      return { kind: 'delete' };
  }
  const n = Number(e.key);
  return Number.isInteger(n) && n >= 1 && n <= Math.min(9, classes)
    ? { kind: 'class', index: n - 1 }
    : undefined;
}
