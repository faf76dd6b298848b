import type { Command } from 'commander';
import { LoupeError } from '../../errors/loupe-error.js';
import { defaultActor } from '../../registry/registry-store.js';
import { createKey, listKeys, revokeKey, type ApiKey } from '../../serve/api-keys.js';
import { renderTable } from '../../util/render-table.js';
import { withWorkspace } from '../workspace-options.js';

const when = (iso: string | null) => (iso ? iso.replace('T', ' ').slice(0, 19) : '-');
const rate = (r: number | null) => (r === null ? 'unlimited' : `${r}/min`);

/** `--rate 600`, or `--rate unlimited` (also 0) for no limit. */
export function parseRate(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === 'unlimited' || t === 'none' || t === '0') return null;
  const n = Number(t);
  if (!Number.isInteger(n) || n < 0)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `--rate is requests per minute (a whole number) or "unlimited"; got "${text}"`,
    );
  return n;
}

function keyJson(k: ApiKey) {
  return { ...k, status: k.revokedAt ? 'revoked' : 'active' };
}

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('API keys for loupe serve: create (the token is shown once), list, revoke');

  keys
    .command('create')
    .argument('<name>', 'what the key is for, e.g. mobile-app or ci; unique among live keys')
    .option(
      '--scopes <list>',
      'comma-separated: predict, feedback, admin (admin allows every route)',
      'predict',
    )
    .option('--rate <n>', 'requests per minute, or "unlimited" (default: serve.auth.ratePerMinute)')
    .option('--json', 'print the key and its token as JSON')
    .addHelpText(
      'after',
      `
Examples:
  loupe keys create mobile-app
  loupe keys create labeller --scopes predict,feedback --rate 120
  loupe keys create ops --scopes admin --rate unlimited`,
    )
    .action(
      async (name: string, flags: { scopes: string; rate?: string; json?: boolean }, command: Command) => {
        await withWorkspace(command, async (ws) => {
          const { key, token } = await createKey(ws.db, {
            name,
            scopes: flags.scopes.split(','),
            ...(flags.rate !== undefined ? { ratePerMinute: parseRate(flags.rate) } : {}),
            defaultRatePerMinute: ws.config.serve.auth.ratePerMinute,
            actor: defaultActor(),
          });
          if (flags.json) return console.log(JSON.stringify({ ...keyJson(key), token }));
          console.log(
            `created key "${key.name}" (id ${key.id}): ${key.scopes.join(', ')}, ${rate(key.ratePerMinute)}`,
          );
          console.log('');
          console.log(`  ${token}`);
          console.log('');
          // On stderr so `loupe keys create x | tail -2` style captures do not swallow it unseen.
          console.error(
            'Copy this token now: it cannot be shown again (only its hash is stored). Send it as\n' +
              '"Authorization: Bearer <token>". If it is lost, revoke the key and create another.',
          );
        });
      },
    );

  keys
    .command('ls')
    .description('List API keys (never their tokens)')
    .option('--all', 'include revoked keys')
    .option('--json', 'as JSON lines')
    .action(async (flags: { all?: boolean; json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const list = await listKeys(ws.db, { live: !flags.all });
        if (flags.json) return list.forEach((k) => console.log(JSON.stringify(keyJson(k))));
        if (!list.length)
          return console.log(
            flags.all
              ? 'no API keys yet; create one with: loupe keys create NAME'
              : 'no live API keys (--all shows revoked ones)',
          );
        console.log(
          renderTable(
            ['id', 'name', 'scopes', 'rate', 'created', 'by', 'last used', 'status'],
            list.map((k) => [
              k.id,
              k.name,
              k.scopes.join(','),
              rate(k.ratePerMinute),
              when(k.createdAt),
              k.createdBy,
              when(k.lastUsedAt),
              k.revokedAt ? `revoked ${when(k.revokedAt)}` : 'active',
            ]),
          ),
        );
      });
    });

  keys
    .command('revoke')
    .argument('<key>', 'the id or name of the key')
    .description('Revoke an API key: requests with its token fail from the next request on')
    .action(async (idOrName: string, _flags: unknown, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const { key, alreadyRevoked } = await revokeKey(ws.db, idOrName);
        console.log(
          alreadyRevoked
            ? `key "${key.name}" (id ${key.id}) was already revoked at ${when(key.revokedAt)}`
            : `revoked key "${key.name}" (id ${key.id})`,
        );
      });
    });
}
