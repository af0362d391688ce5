/**
 * The emulator keeps idle connections open as IIS does by default (120 s), not node's 5 s, and says
 * so in `Keep-Alive: timeout=120`. With node's 5 s, an emulator busy for a few seconds (a long GC on
 * a loaded machine) could time out a connection before reading the request a client had just sent on
 * it, and the client saw ECONNRESET on a write it cannot safely re-send. Here a connection idle for
 * longer than node's default is reused for a POST.
 */
import * as https from 'node:https';
import { startEmulator, type Emulator } from '../../src/emulator';
import { appToken } from '../helpers/emulator';

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0 });
});

afterAll(async () => {
  await emulator?.close();
});

it('announces Keep-Alive: timeout=120 on a keep-alive connection', async () => {
  const agent = new https.Agent({ keepAlive: true });
  try {
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = https.request(`${emulator.url}/api/data/v9.2/`, { ca: emulator.caPem, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers));
      });
      req.on('error', reject);
      req.end();
    });
    expect({ connection: headers['connection'], keepAlive: headers['keep-alive'] }).toEqual({ connection: 'keep-alive', keepAlive: 'timeout=120' });
  } finally {
    agent.destroy();
  }
});

it('a connection idle for longer than node’s 5 s default is reused for a POST, and the POST is served', async () => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const post = (name: string) =>
    new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
      const req = https.request(`${emulator.url}/api/data/v9.2/accounts`, { method: 'POST', ca: emulator.caPem, agent, headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ name }));
    });
  const bearer = await appToken(emulator);
  try {
    expect(await post('before the pause')).toEqual({ status: 204, reused: false });
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    // With node's default (5 s, announced as timeout=5) the agent would have dropped the socket by now.
    expect(await post('after the pause')).toEqual({ status: 204, reused: true });
  } finally {
    agent.destroy();
  }
}, 20_000);
