/**
 * Audacity label files ("Export Labels"): one label per line, `start<TAB>end<TAB>text`, times in
 * seconds with a '.' decimal point. A point label has start = end. A label made on a spectral
 * selection is followed by a line `\<TAB>low<TAB>high` giving its frequency band in Hz.
 */

export interface AudacityLabel {
  /** 1-based line number in the file. */
  line: number;
  start: number;
  end: number;
  /** The label text, trimmed. */
  label: string;
  /** The frequency band (Hz) of a spectral selection, when the file gives one. */
  lowHz?: number;
  highHz?: number;
}

export interface LabelLineProblem {
  line: number;
  code: 'bad-line' | 'bad-number' | 'empty-label' | 'end-before-start';
  reason: string;
}

export interface ParsedLabelFile {
  labels: AudacityLabel[];
  /** Lines that could not become a label, each with why; nothing is dropped without one. */
  problems: LabelLineProblem[];
}

/** Plain decimal or exponent notation only: Number() would also take '', '0x1f' and 'Infinity'. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseNumber(text: string): number | undefined {
  return NUMBER.test(text) ? Number(text) : undefined;
}

/**
 * Splits a label line. Audacity writes tabs, but hand-written files often use spaces: without a
 * tab, the first two whitespace-separated fields are the times and the rest is the label text
 * (which may itself contain spaces).
 */
function fields(line: string): [string, string, string] | undefined {
  if (line.includes('\t')) {
    const [a = '', b = '', ...rest] = line.split('\t');
    return [a.trim(), b.trim(), rest.join('\t')];
  }
  const m = /^\s*(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
  return m ? [m[1]!, m[2]!, m[3] ?? ''] : undefined;
}

function badNumberReason(what: string, text: string): string {
  const hint = /^\d+,\d+$/.test(text) ? " (use '.' as the decimal separator)" : '';
  return `${what} ${JSON.stringify(text)} is not a number${hint}`;
}

/** Parses the text of a label file. Never throws: every line it cannot use is a problem. */
export function parseAudacityLabels(text: string): ParsedLabelFile {
  const labels: AudacityLabel[] = [];
  const problems: LabelLineProblem[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  // The line just above, when it was a label line (kept or rejected) that a band line belongs to.
  let above: { line: number; label: AudacityLabel | undefined } | undefined;
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('\\')) {
      // The frequency band of the label above; it is not a label of its own.
      const [low = '', high = ''] = raw.slice(1).trim().split(/\s+/);
      const lowHz = parseNumber(low);
      const highHz = parseNumber(high);
      const owner = above?.line === line - 1 ? above : undefined;
      if (!owner) {
        problems.push({
          line,
          code: 'bad-line',
          reason: 'spectral-selection line without a label line above it',
        });
      } else if (lowHz === undefined || highHz === undefined) {
        problems.push({
          line,
          code: 'bad-line',
          reason: `malformed spectral-selection line ${JSON.stringify(raw)}`,
        });
      } else if (owner.label) {
        owner.label.lowHz = lowHz;
        owner.label.highHz = highHz;
      }
      return;
    }
    above = { line, label: undefined };
    const f = fields(raw);
    if (!f) {
      problems.push({
        line,
        code: 'bad-line',
        reason: `expected "start<TAB>end<TAB>label", got ${JSON.stringify(raw)}`,
      });
      return;
    }
    const [a, b, c] = f;
    const start = parseNumber(a);
    const end = parseNumber(b);
    if (start === undefined || end === undefined) {
      problems.push({
        line,
        code: 'bad-number',
        reason: start === undefined ? badNumberReason('start time', a) : badNumberReason('end time', b),
      });
      return;
    }
    const label = c.trim();
    if (label === '') {
      problems.push({ line, code: 'empty-label', reason: `the label text is empty (${a}–${b} s)` });
      return;
    }
    if (end < start) {
      problems.push({ line, code: 'end-before-start', reason: `end ${b} s is before start ${a} s` });
      return;
    }
    above.label = { line, start, end, label };
    labels.push(above.label);
  });
  return { labels, problems };
}
