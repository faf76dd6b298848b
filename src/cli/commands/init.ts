import type { Command } from 'commander';
import path from 'node:path';
import { initWorkspace } from '../../workspace/workspace.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .argument('[dir]', 'folder to make a workspace of', '.')
    .description('create a workspace: loupe.yaml (documented defaults) and .loupe/ (database, blob store)')
    .option('--name <name>', 'project name (default: the folder name)')
    .action(async (dir: string, o: { name?: string }) => {
      const { root, created } = await initWorkspace(dir, o);
      const where = path.relative(process.cwd(), root) || '.';
      console.log(
        created
          ? `created a Loupe workspace in ${where}`
          : `${where} is already a Loupe workspace; left its loupe.yaml as it was`,
      );
    });
}
