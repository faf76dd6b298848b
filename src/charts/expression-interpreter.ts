import { expressionInterpreter } from 'vega-interpreter';

type Interpreter = typeof expressionInterpreter;
type Context = { functions: object };

/** `datetime(...)` as Vega's compiled expressions read it: `new Date(...)`, one number being a timestamp. */
const datetime = (...args: unknown[]): Date => Reflect.construct(Date, args) as Date;

/** The view's context with `datetime` among its own functions, which the interpreter looks up before its built-ins. */
const withDatetime = (ctx: Context): Context =>
  Object.create(ctx, { functions: { value: Object.assign(Object.create(ctx.functions), { datetime }) } });

const METHODS = ['operator', 'parameter', 'event', 'handler', 'encode'] as const;

/**
 * How every Loupe chart evaluates its Vega expressions, in the browser (vega-embed's `expr`) and
 * on the server (View's `expr`), always with Vega's parser set to `{ ast: true }`: vega-interpreter
 * walks each expression's syntax tree where Vega would otherwise compile it with `new Function`,
 * which the web app's Content-Security-Policy forbids. The server draws its SVG and PNG reports the
 * same way, so they show what the pages show and the tests that render charts in Node exercise
 * the interpreter too.
 *
 * One correction: vega-interpreter (2.3.2, vega/vega#3632 still open) reads `datetime(t)` with a
 * single number as a year, an invalid date, where compiled expressions read a timestamp; Vega-Lite
 * writes explicit time domains as `datetime(t)`, so the monitoring page's time axes would come
 * out empty with every point at x = 0. Here `datetime` means what it means compiled.
 */
export const chartInterpreter = Object.fromEntries(
  METHODS.map((m) => [m, (ctx: Context, x: unknown) => expressionInterpreter[m](withDatetime(ctx), x)]),
) as Interpreter;
