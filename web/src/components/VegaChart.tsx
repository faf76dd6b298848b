import { useEffect, useRef, useState } from 'react';
import type { VisualizationSpec } from 'vega-embed';
import type { TopLevelSpec } from 'vega-lite';

/** A chart spec as the server sends it: the Vega-Lite JSON the HTML and PNG reports are drawn from. */
export type ChartSpec = TopLevelSpec;
/** A spec as fitSpec reads it: JSON whose sizes it rewrites, whatever kind of chart it draws. */
type SpecJson = Record<string, unknown>;

/** Room a chart needs beside its plot for the y axis, its title and padding, in CSS pixels. */
const AXIS_ROOM = 90;
/** A heatmap also has row labels and a colour legend beside it. */
const HEATMAP_ROOM = 230;
const MIN_PLOT = 160;

const isNumber = (v: unknown): v is number => typeof v === 'number';

/**
 * The spec narrowed to `width` pixels: a chart never grows past the size it was designed at, and
 * shrinks (keeping its proportions) on narrow screens. Vega-Lite's width "container" does not
 * reach concatenated charts or a heatmap's step-sized cells, so the sizes are set here instead.
 */
export function fitSpec(chart: ChartSpec, width: number): VisualizationSpec {
  const fit = (s: SpecJson, room: number): SpecJson => {
    const w = s.width;
    if (isNumber(w)) {
      const to = Math.max(MIN_PLOT, Math.min(w, width - room));
      return { ...s, width: to, ...(isNumber(s.height) ? { height: Math.round((s.height * to) / w) } : {}) };
    }
    if (w && typeof w === 'object' && isNumber((w as { step?: unknown }).step)) {
      const x = (s.encoding as { x?: { scale?: { domain?: unknown[] } } } | undefined)?.x;
      const n = Math.max(1, x?.scale?.domain?.length ?? 1);
      const original = (w as { step: number }).step;
      const step = Math.max(12, Math.min(original, Math.floor((width - HEATMAP_ROOM) / n)));
      return { ...s, width: { step }, height: { step } };
    }
    return s;
  };
  const spec: SpecJson = { ...chart };
  if (Array.isArray(spec.vconcat))
    return {
      ...spec,
      vconcat: (spec.vconcat as SpecJson[]).map((c) => fit(c, AXIS_ROOM)),
    } as VisualizationSpec;
  return fit(spec, AXIS_ROOM) as VisualizationSpec;
}

interface VegaChartProps {
  spec: ChartSpec;
  /** What the chart shows, for screen readers (the chart's own title is drawn, not read). */
  label: string;
  /** Called with the data of a clicked mark (a confusion-matrix cell, say). */
  onSelect?: (datum: Record<string, unknown>) => void;
}

/**
 * A Vega-Lite chart drawn by vega-embed as SVG, sized to its container and redrawn when that
 * changes. vega-embed (with Vega) is loaded on first use, so pages without charts stay small.
 * Vega's expressions are interpreted (chartInterpreter, as the server's reports are) rather than
 * compiled with `new Function`: the pages' Content-Security-Policy allows no eval.
 */
export function VegaChart({ spec, label, onSelect }: VegaChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const target = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const select = useRef(onSelect);
  select.current = onSelect;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(() => {
      // Whole tens of pixels: a scrollbar appearing must not redraw every chart.
      setWidth(Math.floor(el.clientWidth / 10) * 10);
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    if (!width || !target.current) return;
    let finalize: (() => void) | undefined;
    let cancelled = false;
    void Promise.all([import('vega-embed'), import('../../../src/charts/expression-interpreter.js')])
      .then(async ([{ default: embed }, { chartInterpreter }]) => {
        if (cancelled || !target.current) return;
        const result = await embed(target.current, fitSpec(spec, width), {
          actions: false,
          renderer: 'svg',
          tooltip: true,
          ast: true,
          expr: chartInterpreter,
        });
        if (cancelled) return result.finalize();
        finalize = () => result.finalize();
        result.view.addEventListener('click', (_event, item) => {
          const datum = (item as { datum?: Record<string, unknown> } | null | undefined)?.datum;
          if (datum) select.current?.(datum);
        });
        setError(null);
      })
      .catch((e: unknown) => setError((e as Error).message));
    return () => {
      cancelled = true;
      finalize?.();
    };
  }, [spec, width]);

  return (
    <figure className="chart" aria-label={label}>
      <div ref={box} className="chart-box">
        <div ref={target} className={onSelect ? 'chart-target clickable' : 'chart-target'} />
      </div>
      {error && (
        <figcaption className="alert error" role="alert">
          The chart could not be drawn: {error}
        </figcaption>
      )}
    </figure>
  );
}
