// Preloaded (`node --import`) into the Keel processes of the soak, never into Keel itself: every few seconds it
// writes the process's memory to file descriptor 3, which the soak opened as a pipe. With `--expose-gc` a full
// collection runs first, so heapUsed is what is live, not what the collector has not reached yet. Without the
// pipe (fd 3 not open) it stops at the first write.
import { writeSync } from 'node:fs';

const EVERY_MS = 5_000;
const gc = (globalThis as { gc?: () => void }).gc;

const timer = setInterval(() => {
  gc?.();
  const m = process.memoryUsage();
  const line = JSON.stringify({
    t: Date.now(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  });
  try {
    writeSync(3, `${line}\n`);
  } catch {
    clearInterval(timer);
  }
}, EVERY_MS);
timer.unref();
