import { ensureHaproxy, startBalancer, type Balancer } from './haproxy.ts';
import { startKeel, type KeelProcess } from './keel-process.ts';

// Several `keel serve` and `keel work` processes behind HAProxy, as docker-compose.yml's `scale` profile runs them.

export interface Fleet {
  lb: Balancer;
  apis: KeelProcess[];
  workers: KeelProcess[];
  /** The API process HAProxy names `name` (api1, api2) in its node header. */
  api(name: string): KeelProcess;
  stop(): Promise<void>;
}

export async function startFleet(
  env: Record<string, string>,
  opts: { apis?: 1 | 2; workers?: number } = {},
): Promise<Fleet> {
  ensureHaproxy();
  const apis: KeelProcess[] = [];
  const workers: KeelProcess[] = [];
  const stopAll = async () => {
    await Promise.allSettled([...apis, ...workers].map((p) => p.stop()));
  };
  try {
    // One at a time: on two shared cores, parallel tsx start-ups each take longer than the lot in sequence.
    for (let i = 0; i < (opts.apis ?? 2); i++) apis.push(await startKeel('serve', env));
    for (let i = 0; i < (opts.workers ?? 2); i++) workers.push(await startKeel('work', env));
    const backends: [string, string] = [apis[0]!.address, (apis[1] ?? apis[0]!).address];
    const lb = await startBalancer(backends);
    return {
      lb,
      apis,
      workers,
      api: (name) => {
        const p = apis[Number(name.replace(/\D/g, '')) - 1];
        if (!p) throw new Error(`no API node ${name}`);
        return p;
      },
      async stop() {
        await lb.stop();
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
