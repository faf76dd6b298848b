/**
 * A parser for the data-only subset of JavaScript that minifiers emit for object literals:
 * objects (identifier, string or number keys), arrays, strings, numbers, `!0`/`!1`, true, false,
 * null. Nothing is evaluated, so a bundle can be read without running any of its code.
 */
export type JsValue = null | boolean | number | string | JsValue[] | { [key: string]: JsValue };

export class JsLiteralError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
  }
}

const IDENT_START = /[A-Za-z_$]/;
const IDENT_PART = /[\w$]/;
const NUMBER = /-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  f: '\f',
  v: '\v',
  '0': '\0',
};
const MAX_DEPTH = 200;

class Parser {
  constructor(
    private readonly src: string,
    public pos: number,
  ) {}

  fail(message: string): never {
    throw new JsLiteralError(message, this.pos);
  }

  skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  peek(): string | undefined {
    this.skipSpace();
    return this.src[this.pos];
  }

  expect(c: string): void {
    if (this.peek() !== c) this.fail(`expected "${c}" but found ${this.describeHere()}`);
    this.pos++;
  }

  private describeHere(): string {
    const c = this.src[this.pos];
    return c === undefined ? 'the end of the text' : JSON.stringify(this.src.slice(this.pos, this.pos + 12));
  }

  value(depth: number): JsValue {
    if (depth > MAX_DEPTH) this.fail('literal nested too deeply');
    const c = this.peek();
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"' || c === "'") return this.string();
    if (c === '!') {
      const d = this.src[this.pos + 1];
      if (d === '0' || d === '1') {
        this.pos += 2;
        return d === '0';
      }
      this.fail('only !0 and !1 are allowed after "!"');
    }
    if (c !== undefined && (c === '-' || c === '.' || (c >= '0' && c <= '9'))) return this.number();
    if (c !== undefined && IDENT_START.test(c)) {
      const word = this.identifier();
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'null') return null;
      this.fail(`unexpected identifier "${word}" (only data literals are accepted)`);
    }
    this.fail(`unexpected ${this.describeHere()}`);
  }

  private identifier(): string {
    const start = this.pos;
    while (this.pos < this.src.length && IDENT_PART.test(this.src[this.pos]!)) this.pos++;
    return this.src.slice(start, this.pos);
  }

  private number(): number {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.src);
    if (!m) this.fail('malformed number');
    this.pos += m[0].length;
    return Number(m[0]);
  }

  string(): string {
    const quote = this.src[this.pos]!;
    this.pos++;
    let out = '';
    const plain = quote === '"' ? /[^"\\\n]*/y : /[^'\\\n]*/y;
    for (;;) {
      // Copy runs of ordinary characters in one slice: weight shards are megabytes of base64.
      plain.lastIndex = this.pos;
      const run = plain.exec(this.src)![0];
      out += run;
      this.pos += run.length;
      const c = this.src[this.pos];
      if (c === undefined || c === '\n') this.fail('unterminated string');
      this.pos++;
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.src[this.pos++];
      if (e === undefined) this.fail('unterminated string');
      if (e in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[e];
      else if (e === 'x' || e === 'u') {
        const len = e === 'x' ? 2 : 4;
        const hex = this.src.slice(this.pos, this.pos + len);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) this.fail('malformed escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += len;
      } else out += e;
    }
  }

  private key(): string {
    const c = this.peek();
    if (c === '"' || c === "'") return this.string();
    if (c !== undefined && IDENT_START.test(c)) return this.identifier();
    if (c !== undefined && c >= '0' && c <= '9') return String(this.number());
    this.fail(`expected a property name but found ${this.describeHere()}`);
  }

  private object(depth: number): { [key: string]: JsValue } {
    this.expect('{');
    const out: { [key: string]: JsValue } = {};
    while (this.peek() !== '}') {
      const k = this.key();
      this.expect(':');
      // defineProperty, not assignment, so a "__proto__" key stays data instead of a prototype.
      Object.defineProperty(out, k, {
        value: this.value(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      if (this.peek() !== ',') break;
      this.pos++;
    }
    this.expect('}');
    return out;
  }

  private array(depth: number): JsValue[] {
    this.expect('[');
    const out: JsValue[] = [];
    while (this.peek() !== ']') {
      out.push(this.value(depth + 1));
      if (this.peek() !== ',') break;
      this.pos++;
    }
    this.expect(']');
    return out;
  }
}

/** Parses one literal starting at `offset`; returns it and the offset just past it. */
export function parseJsLiteral(src: string, offset = 0): { value: JsValue; end: number } {
  const p = new Parser(src, offset);
  const value = p.value(0);
  return { value, end: p.pos };
}
