// Child process of bench/realtime.bench.ts: the baseline, a raw `ws` server in one process that broadcasts every
// message from the publisher connection (the first path segment `/publish`) to every other client.
import { WebSocketServer, type WebSocket } from 'ws';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
const subscribers = new Set<WebSocket>();
wss.on('connection', (ws, req) => {
  if (req.url === '/publish') {
    ws.on('message', (data, isBinary) => {
      for (const s of subscribers) s.send(data, { binary: isBinary });
    });
    return;
  }
  subscribers.add(ws);
  ws.on('close', () => subscribers.delete(ws));
});
wss.on('listening', () => {
  const address = wss.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
