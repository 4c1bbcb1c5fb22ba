/**
 * A redis-server of the test's own on a random port (never the machine's shared one), for tests that
 * pause it or make it refuse writes. `admin` is a connection for such commands.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export interface OwnRedis {
  url: string;
  admin: Redis;
  stop(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = 27_000 + Math.floor(Math.random() * 4000);
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { lazyConnect: true, retryStrategy: () => 50 });
  admin.on('error', () => undefined); // refused while the server starts
  for (let i = 0; i < 50; i++) {
    try {
      await admin.connect();
      break;
    } catch {
      await sleep(50);
    }
  }
  await admin.ping();
  return {
    url, admin,
    async stop() {
      await admin.quit().catch(() => undefined);
      server.kill('SIGKILL');
    },
  };
}
