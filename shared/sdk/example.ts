// A small program built on the SDK, run as its own Node process by sdk.int.test.ts and usable as a starting point:
//
//   tsx shared/sdk/example.ts --url http://localhost:3000 --email owner@demo.test --password '…' [--events 1]
//   tsx shared/sdk/example.ts --url http://localhost:3000 --token keel_… [--events 1]
//
// It prints one JSON line per step: who it is, the organization's members, then the organization's activity as it
// happens, and stops after `--events` events.
import { parseArgs } from 'node:util';
import { createKeelClient, isKeelError, signIn, type KeelClient } from './index.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    email: { type: 'string' },
    password: { type: 'string' },
    token: { type: 'string' },
    events: { type: 'string', default: '1' },
  },
});

const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

function usage(): never {
  process.stderr.write('usage: example.ts --url URL (--token TOKEN | --email EMAIL --password PASSWORD)\n');
  process.exit(2);
}

async function connect(): Promise<KeelClient> {
  if (!values.url) usage();
  if (values.token) return createKeelClient({ url: values.url, token: values.token });
  if (values.email && values.password) {
    return signIn({ url: values.url, email: values.email, password: values.password });
  }
  usage();
}

async function main(): Promise<void> {
  const client = await connect();
  try {
    await run(client, Number(values.events));
  } finally {
    await client.close();
  }
  print({ step: 'closed' });
}

async function run(client: KeelClient, wanted: number): Promise<void> {
  const me = await client.auth.me.query();
  print({
    step: 'me',
    email: me.user.email,
    via: me.via,
    organizationId: me.organization?.id ?? null,
    abilities: me.abilities,
  });

  const members = await client.organization.members.query();
  print({
    step: 'members',
    emails: members.map((m) => m.email),
    joinedAtIsDate: members[0]?.joinedAt instanceof Date,
  });

  try {
    await client.ops.overview.query();
    print({ step: 'ops', refused: false });
  } catch (err) {
    if (!isKeelError(err)) throw err;
    print({
      step: 'ops',
      refused: true,
      appCode: err.data?.appCode ?? null,
      status: err.data?.httpStatus ?? null,
    });
  }

  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    const subscription = client.activity.onNew.subscribe(undefined, {
      onStarted: () => print({ step: 'subscribed' }),
      onData: ({ id, data }) => {
        // The server keeps a day of activity for reconnecting clients; past that it says to read `recent` again.
        if ('type' in data) return print({ step: 'resync', id });
        print({
          step: 'event',
          id,
          action: data.action,
          subjectType: data.subjectType,
          userId: data.userId,
          createdAtIsDate: data.createdAt instanceof Date,
        });
        if (++seen >= wanted) {
          subscription.unsubscribe();
          resolve();
        }
      },
      onError: (err) => {
        print({ step: 'error', appCode: err.data?.appCode ?? null, message: err.message });
        reject(err);
      },
    });
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
