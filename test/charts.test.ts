import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { chartGrid, lineChartSpec } from '../src/charts/line-chart.js';
import { renderPng, renderSvg } from '../src/charts/render.js';

const options = {
  title: 'validation accuracy',
  xTitle: 'epoch',
  yTitle: 'accuracy',
  series: [
    {
      name: 'probe',
      points: [
        [1, 0.61],
        [2, 0.72],
        [3, 0.78],
      ] as [number, number][],
    },
    {
      name: 'finetune',
      points: [
        [1, 0.5],
        [2, 0.8],
      ] as [number, number][],
    },
  ],
};

/** Pixels that differ clearly from the white background. */
async function inkedPixels(file: string): Promise<number> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let inked = 0;
  for (let i = 0; i < data.length; i += info.channels)
    if (data[i]! + data[i + 1]! + data[i + 2]! < 600) inked++;
  return inked;
}

let dir: string;
before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'loupe-charts-'))));
after(() => rm(dir, { recursive: true, force: true }));

describe('line charts', () => {
  it('are plain Vega-Lite data with one row per point', () => {
    const spec = lineChartSpec(options);
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
    assert.match(String(spec.$schema), /vega-lite\/v6/);
    const values = (spec as { data: { values: { series: string; x: number; y: number }[] } }).data.values;
    assert.equal(values.length, 5);
    assert.deepEqual(values[3], { series: 'finetune', x: 1, y: 0.5 });
  });

  it('render to SVG headless, with titles, axis labels and a legend as text', async () => {
    const svg = await renderSvg(lineChartSpec(options));
    assert.match(svg, /^<svg /);
    for (const text of ['validation accuracy', 'epoch', 'accuracy', 'probe', 'finetune'])
      assert.ok(svg.includes(`>${text}<`), `the SVG lacks the text "${text}"`);
    assert.ok(!/>1\.5</.test(svg), 'whole-number epochs get no fractional ticks');
  });

  it('render to a PNG at twice the SVG size, with lines and text drawn', async () => {
    const spec = lineChartSpec(options);
    const svg = await renderSvg(spec);
    const [, w, h] = /width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
    const file = path.join(dir, 'nested', 'chart.png');
    await renderPng(spec, file);
    const meta = await sharp(file).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, w! * 2);
    assert.equal(meta.height, h! * 2);
    assert.ok((await inkedPixels(file)) > 5000);
  });

  it('sit side by side in a grid', async () => {
    const one = lineChartSpec(options);
    const [file, singleFile] = [path.join(dir, 'grid.png'), path.join(dir, 'single.png')];
    await renderPng(chartGrid([one, lineChartSpec({ ...options, title: 'training loss' })]), file);
    await renderPng(one, singleFile);
    const [grid, single] = [await sharp(file).metadata(), await sharp(singleFile).metadata()];
    assert.ok(grid.width! > 1.8 * single.width!, `grid ${grid.width} px wide, one chart ${single.width}`);
    assert.ok((await inkedPixels(file)) > 10_000);
  });
});
