import { Command, CommanderError } from 'commander';
import { isLoupeError } from '../errors/loupe-error.js';
import { registerData } from './commands/data.js';
import { registerDrift } from './commands/drift.js';
import { registerDemo } from './commands/demo.js';
import { registerEngine } from './commands/engine.js';
import { registerEval } from './commands/eval.js';
import { registerExport } from './commands/export.js';
import { registerGc } from './commands/gc.js';
import { registerIngest } from './commands/ingest.js';
import { registerInit } from './commands/init.js';
import { registerKeys } from './commands/keys.js';
import { registerModels } from './commands/models.js';
import { registerPredict } from './commands/predict.js';
import { registerPromote } from './commands/promote.js';
import { registerRetrain } from './commands/retrain.js';
import { registerRuns } from './commands/runs.js';
import { registerServe } from './commands/serve.js';
import { registerTrain } from './commands/train.js';
import { registerTune } from './commands/tune.js';

/** Builds the command tree. Each verb lives in its own module under commands/. */
export function buildProgram(): Command {
  const program = new Command('loupe')
    .description('Train, evaluate, serve and improve image and audio classifiers.')
    .version(process.env.npm_package_version ?? '0.1.0')
    .option('-w, --workspace <dir>', 'the workspace folder (default: the nearest with a loupe.yaml)')
    .option('-p, --profile <name>', 'a loupe.yaml profile to apply (or LOUPE_PROFILE)')
    .showHelpAfterError()
    .exitOverride();
  registerInit(program);
  registerIngest(program);
  registerData(program);
  registerDemo(program);
  registerEngine(program);
  registerTrain(program);
  registerTune(program);
  registerRuns(program);
  registerEval(program);
  registerPredict(program);
  registerModels(program);
  registerPromote(program);
  registerRetrain(program);
  registerExport(program);
  registerServe(program);
  registerDrift(program);
  registerKeys(program);
  registerGc(program);
  return program;
}

/** Parses argv, runs the command and returns the exit code; commands never call process.exit. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (isLoupeError(e)) {
      console.error(`loupe: ${e.message} [${e.code}]`);
      return e.exitCode;
    }
    console.error(e);
    return 1;
  }
}
