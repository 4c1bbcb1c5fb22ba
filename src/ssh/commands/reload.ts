import { EXIT_FAILED, json, type Command } from './types.js';

export const reload: Command = {
  name: 'reload', usage: 'reload', admin: true,
  summary: 'reload TLS material, password/ACL files and the SSH authorized keys',
  async run(ctx) {
    try {
      const what = await ctx.port.reload();
      ctx.audit({ action: 'reload', detail: { reloaded: what }, outcome: 'ok' });
      if (ctx.json) return json(ctx, { reloaded: what });
      ctx.out(`reloaded: ${what.length > 0 ? what.join(', ') : 'nothing to reload'}\n`);
      return 0;
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'error';
      ctx.audit({ action: 'reload', detail: { error: code }, outcome: 'failed' });
      ctx.out(`error: reload failed (${code}); the previous files stay in force\n`);
      return EXIT_FAILED;
    }
  },
};
