import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { fsError } from '../errors/fs-error.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { chartInterpreter } from './expression-interpreter.js';

/**
 * Renders headless: Vega's 'none' renderer draws no canvas and estimates text widths. Expressions
 * are interpreted as in the web app (chartInterpreter), so both draw the same chart.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const runtime = parse(compile(spec).spec, undefined, { ast: true });
  const view = new View(runtime, { renderer: 'none', expr: chartInterpreter });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A PNG at twice the SVG's size, so text stays legible on high-density screens and in documents. */
export async function renderPng(spec: TopLevelSpec, file: string): Promise<void> {
  const png = await sharp(Buffer.from(await renderSvg(spec)), { density: 144 })
    .png()
    .toBuffer();
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, png);
  } catch (e) {
    throw fsError(e, file);
  }
}
