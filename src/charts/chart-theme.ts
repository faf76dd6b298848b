import type { Config } from 'vega-lite';

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/**
 * The look the report charts share: quieter axes and grid than Vega's defaults, so the data
 * carries the contrast, and titles set left like the headings of the page they sit in.
 */
export const REPORT_CHART_CONFIG: Config = {
  background: 'white',
  padding: 12,
  title: { anchor: 'start', fontSize: 15, subtitleFontSize: 11, subtitleColor: '#4b5563', offset: 10 },
  axis: {
    labelColor: '#374151',
    titleColor: '#111827',
    titleFontSize: 12,
    titleFontWeight: 600,
    labelFontSize: 11,
    domainColor: '#9ca3af',
    tickColor: '#9ca3af',
    gridColor: '#eceff3',
  },
  legend: { labelColor: '#374151', titleColor: '#111827', labelFontSize: 11, titleFontSize: 11 },
  view: { stroke: '#d1d5db' },
};
