import { randomUUID } from 'node:crypto';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import { AppError } from '../../../shared/errors.ts';
import type { DocumentSignal, DocumentUpdate } from '../../../shared/schemas/documents.ts';
import type { AppDeps } from '../../app-deps.ts';
import { LiveQueue } from '../../platform/pubsub/live-queue.ts';
import type { PresenceEvent, PresenceTab, PresenceUser } from '../../platform/realtime/presence.ts';
import { canSee, documentChannel, DOCUMENT_RETENTION, orgDocumentsChannel } from './documents.service.ts';
import { limitSignal } from './signal-limiter.ts';

// The live side of documents: change streams, presence and client signals. The router checks access (the document
// is visible, the subscription is opened through `openLive`) and hands these generators to `live.run`.

export type PresenceItem = { type: 'snapshot'; users: PresenceUser[] } | PresenceEvent;
export type UpdateItem = DocumentUpdate | { type: 'resync' };

/** Who is watching: the caller's organization and user. */
export interface Viewer {
  organizationId: string;
  userId: string;
}

const signalChannel = (organizationId: string, documentId: string) =>
  `signal:${organizationId}:${documentId}`;

/**
 * Changes of one document (with `documentId`) or of every document the viewer may see, replayed from
 * `lastEventId`. Private documents reach their owner only; following a document that becomes private to the viewer
 * ends with NOT_FOUND. A gap in the log (the client was away longer than the retention) asks the client to resync.
 */
export async function* documentUpdates(
  deps: Pick<AppDeps, 'realtime'>,
  viewer: Viewer,
  input: { documentId?: string | undefined; lastEventId?: string | null | undefined },
  signal: AbortSignal,
): AsyncGenerator<TrackedEnvelope<UpdateItem>> {
  const { documentId } = input;
  const channel = documentId
    ? documentChannel(viewer.organizationId, documentId)
    : orgDocumentsChannel(viewer.organizationId);
  const { log, limits } = deps.realtime;
  const items = log.subscribe<DocumentUpdate>(channel, {
    lastEventId: input.lastEventId,
    signal,
    retention: DOCUMENT_RETENTION,
    maxQueued: limits.maxQueuedPerSubscription,
  });
  for await (const item of items) {
    if (item.kind === 'gap') yield tracked<UpdateItem>(item.id, { type: 'resync' });
    if (item.kind !== 'event') continue;
    if (!canSee(item.data, viewer.userId)) {
      if (documentId) throw new AppError('NOT_FOUND', 'Document not found');
      continue;
    }
    yield tracked<UpdateItem>(item.id, item.data);
  }
}

/**
 * Who else has the document open: a snapshot (one entry per user, however many tabs), then joins, state changes
 * and leaves. Running this generator is being present (one tab); it leaves the room when the generator ends.
 */
export async function* documentPresence(
  deps: Pick<AppDeps, 'realtime' | 'logger'>,
  viewer: Viewer & { name: string },
  input: { documentId: string; state: PresenceTab['state'] },
  signal: AbortSignal,
): AsyncGenerator<TrackedEnvelope<PresenceItem>> {
  const { presence, log, limits } = deps.realtime;
  const room = `${viewer.organizationId}:${input.documentId}`;
  const tab = {
    tabId: `${viewer.userId}:${randomUUID()}`,
    userId: viewer.userId,
    name: viewer.name,
    state: input.state,
  };
  const unwatch = presence.watch(room);
  let leave: (() => Promise<void>) | null = null;
  let snapshot: PresenceUser[] = [];
  try {
    const items = log.subscribe<PresenceEvent>(presence.channel(room), {
      signal,
      retention: presence.retention,
      maxQueued: limits.maxQueuedPerSubscription,
      startAt: async () => {
        leave = await presence.enter(room, tab);
        const snap = await presence.snapshot(room);
        snapshot = snap.users;
        return snap.id;
      },
    });
    for await (const item of items) {
      if (item.kind === 'start') yield tracked<PresenceItem>(item.id, { type: 'snapshot', users: snapshot });
      else if (item.kind === 'event') yield tracked<PresenceItem>(item.id, item.data);
    }
  } finally {
    unwatch();
    const goodbye = leave as (() => Promise<void>) | null;
    await goodbye?.().catch((err: unknown) => deps.logger.warn({ err }, 'presence leave failed'));
  }
}

/** Sends a client event (cursor, selection, typing) to everyone viewing the document: rate-limited, not stored. */
export async function sendSignal(
  deps: AppDeps,
  viewer: Viewer & { name: string },
  input: { documentId: string; kind: DocumentSignal['kind']; data: DocumentSignal['data'] },
): Promise<void> {
  await limitSignal(deps, viewer.userId, input.documentId);
  const event: DocumentSignal = {
    documentId: input.documentId,
    userId: viewer.userId,
    name: viewer.name,
    kind: input.kind,
    data: input.data,
    at: new Date().toISOString(),
  };
  await deps.pubsub.publish(signalChannel(viewer.organizationId, input.documentId), event);
}

/** Client events of a document as they happen. They are not stored, so there is nothing to replay. */
export async function* documentSignals(
  deps: Pick<AppDeps, 'realtime' | 'pubsub'>,
  viewer: Viewer,
  documentId: string,
  signal: AbortSignal,
): AsyncGenerator<DocumentSignal> {
  // Only the newest signal per sender and kind matters to a viewer that fell behind.
  const queue = new LiveQueue<DocumentSignal>(
    deps.realtime.limits.maxQueuedPerSubscription,
    (s) => `${s.userId}:${s.kind}`,
  );
  const stop = await deps.pubsub.listen<DocumentSignal>(
    signalChannel(viewer.organizationId, documentId),
    (s) => void queue.push(s),
  );
  try {
    for (;;) {
      const next = await queue.next(signal);
      if (!next) return;
      yield next;
    }
  } finally {
    stop();
  }
}
