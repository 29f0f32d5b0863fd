import { describe, expect, it } from 'vitest';
import { summarize, type Profile } from './cpu-profile.ts';

const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
  id,
  callFrame: { functionName, url, lineNumber: 0 },
  children,
});

// root → fastify handler → pg query → native socket write; root → tsx loader (startup); root → idle.
const profile: Profile = {
  nodes: [
    frame(1, '(root)', '', [2, 5, 6]),
    frame(2, 'handler', 'file:///app/node_modules/fastify/lib/route.js', [3]),
    frame(3, 'query', 'file:///app/node_modules/pg/lib/client.js', [4]),
    frame(4, 'writeBuffer', ''),
    frame(5, 'load', 'file:///app/node_modules/tsx/dist/loader.mjs'),
    frame(6, '(idle)', ''),
  ],
  samples: [2, 3, 4, 4, 5, 6],
  timeDeltas: [100, 200, 300, 300, 5000, 9000],
};

describe('summarize', () => {
  it('charges native frames to their library caller and leaves out idle time and startup', () => {
    const out = summarize(profile, 2);
    expect(out).toMatch(/^busy CPU 450 µs per request over 2 requests \(startup left out: 5 ms\)/);
    // pg's own 200 µs and the socket writes it asked for (600 µs), over 2 requests.
    expect(out).toMatch(/^\s+400 µs\/req\s+88\.9 %\s+pg$/m);
    expect(out).toMatch(/^\s+50 µs\/req\s+11\.1 %\s+Fastify$/m);
    expect(out).toMatch(/300 µs\/req\s+66\.7 %\s+writeBuffer :1 \[pg\]/);
    expect(out).not.toMatch(/idle|tsx/);
  });
});
