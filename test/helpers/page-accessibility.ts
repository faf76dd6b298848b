import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

/*
 * The functions passed to page.evaluate run in Chromium. The tests' type-check has no DOM
 * library (it would clash with Node's own fetch types), so the few DOM members they use are
 * declared here.
 */
interface Rect {
  width: number;
  height: number;
}
interface Style {
  visibility: string;
  display: string;
  color: string;
  backgroundColor: string;
  fontSize: string;
  fontWeight: string;
}
interface El {
  tagName: string;
  id: string;
  className: unknown;
  textContent: string | null;
  parentElement: El | null;
  disabled?: boolean;
  type?: string;
  labels?: { length: number } | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): Rect;
  closest(selector: string): El | null;
}
interface TextNode {
  textContent: string | null;
  parentElement: El | null;
}
interface PageGlobals {
  document: {
    body: El;
    documentElement: { scrollWidth: number };
    querySelectorAll(selector: string): Iterable<El>;
    createTreeWalker(root: El, what: number): { nextNode(): TextNode | null };
  };
  getComputedStyle(e: El): Style;
  innerWidth: number;
}
/** Runs in the page, serialised (so it uses nothing from this module): the problems, one line each. */
function findProblems(): string[] {
  const { document, getComputedStyle } = globalThis as unknown as PageGlobals;
  const out: string[] = [];
  const visible = (e: El) => {
    const r = e.getBoundingClientRect();
    const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  const describe = (e: El) =>
    `<${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${typeof e.className === 'string' && e.className ? `.${e.className.split(' ').join('.')}` : ''}> "${(e.textContent ?? '').trim().slice(0, 40)}"`;

  for (const e of document.querySelectorAll('input, select, textarea, button, a[href]')) {
    if (!visible(e) || e.type === 'hidden') continue;
    const named =
      e.getAttribute('aria-label') ||
      e.getAttribute('aria-labelledby') ||
      e.labels?.length ||
      ((e.tagName === 'BUTTON' || e.tagName === 'A') && (e.textContent ?? '').trim());
    if (!named) out.push(`no accessible name: ${describe(e)}`);
  }

  type Rgb = { r: number; g: number; b: number };
  const rgba = (c: string) => {
    const m = c.match(/[\d.]+/g)?.map(Number) ?? [0, 0, 0, 0];
    return { r: m[0]!, g: m[1]!, b: m[2]!, a: m[3] ?? 1 };
  };
  const over = (top: Rgb & { a: number }, under: Rgb): Rgb => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
  });
  const luminance = ({ r, g, b }: Rgb) => {
    const lin = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  /** The colour behind an element: its and its ancestors' backgrounds, composited over white. */
  const background = (e: El | null): Rgb => {
    const layers: ReturnType<typeof rgba>[] = [];
    for (let x = e; x; x = x.parentElement) {
      const c = rgba(getComputedStyle(x).backgroundColor);
      if (c.a > 0) layers.push(c);
      if (c.a >= 1) break;
    }
    return layers.reverse().reduce<Rgb>((under, top) => over(top, under), { r: 255, g: 255, b: 255 });
  };

  const SHOW_TEXT = 4; // NodeFilter.SHOW_TEXT
  const walker = document.createTreeWalker(document.body, SHOW_TEXT);
  const seen = new Set<El>();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const e = n.parentElement;
    if (!e || seen.has(e) || !(n.textContent ?? '').trim() || !visible(e)) continue;
    seen.add(e);
    if (e.disabled || e.closest('[aria-hidden="true"], svg, noscript')) continue;
    const s = getComputedStyle(e);
    const bg = background(e);
    const fg = over(rgba(s.color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a) as [number, number];
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`contrast ${ratio.toFixed(2)}:1: ${describe(e)}`);
  }
  return out;
}

/**
 * Checks what a person with a screen reader or weak eyesight needs from the page as it is now:
 * every visible control and link has an accessible name, and all visible text has WCAG AA
 * contrast against the background it is drawn on (4.5:1; 3:1 for large text). Background images
 * are not seen; text over them is judged against the colour beneath.
 */
export async function assertAccessible(page: Page): Promise<void> {
  // tsx compiles named functions with esbuild's keepNames, which wraps them in calls to a
  // module-level __name helper; the page has no such helper, so it gets a stand-in.
  const problems = await page.evaluate<string[]>(
    `(() => { const __name = (f) => f; return (${findProblems})(); })()`,
  );
  assert.deepEqual(problems, [], `accessibility problems on ${page.url()}:\n  ${problems.join('\n  ')}`);
}

/** The page fits the viewport's width: nothing makes a phone scroll sideways. */
export async function assertNoSidewaysScroll(page: Page): Promise<void> {
  const { scroll, width } = await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    return { scroll: g.document.documentElement.scrollWidth, width: g.innerWidth };
  });
  assert.ok(scroll <= width, `the page is ${scroll} px wide in a ${width} px viewport (${page.url()})`);
}
