import { randomUUID } from 'node:crypto';
import { tracked } from '@trpc/server';
import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import {
  createDocumentInput,
  documentIdInput,
  documentOutput,
  documentPresenceInput,
  documentSignalInput,
  documentSummary,
  documentUpdatesInput,
  listDocumentsInput,
  updateDocumentInput,
  type DocumentSignal,
  type DocumentUpdate,
} from '../../../shared/schemas/documents.ts';
import { uuid } from '../../../shared/schemas/common.ts';
import { LiveQueue } from '../../platform/pubsub/live-queue.ts';
import type { PresenceEvent, PresenceUser } from '../../platform/realtime/presence.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure } from '../../trpc/procedures.ts';
import { openLive } from '../realtime/live.ts';
import {
  canSee,
  createDocument,
  documentChannel,
  DOCUMENT_RETENTION,
  findVisibleDocument,
  listDocuments,
  orgDocumentsChannel,
  toOutput,
  updateDocument,
} from './documents.service.ts';
import { limitSignal } from './signal-limiter.ts';

const signalChannel = (organizationId: string, documentId: string) =>
  `signal:${organizationId}:${documentId}`;

type PresenceItem = { type: 'snapshot'; users: PresenceUser[] } | PresenceEvent;
type UpdateItem = DocumentUpdate | { type: 'resync' };

export const documentsRouter = router({
  create: abilityProcedure('write')
    .input(createDocumentInput)
    .output(documentOutput)
    .mutation(({ ctx, input }) =>
      createDocument(
        ctx.em,
        { log: ctx.deps.realtime.log, logger: ctx.deps.logger },
        ctx.tenant.organization.id,
        { userId: ctx.auth.user.id, name: ctx.auth.user.name },
        input,
      ),
    ),

  list: abilityProcedure('read')
    .input(listDocumentsInput)
    .output(z.object({ items: z.array(documentSummary), nextCursor: z.string().nullable() }))
    .query(({ ctx, input }) => listDocuments(ctx.em, ctx.auth.user.id, input)),

  get: abilityProcedure('read')
    .input(documentIdInput)
    .output(documentOutput)
    .query(async ({ ctx, input }) =>
      toOutput(await findVisibleDocument(ctx.em, ctx.auth.user.id, input.id, { content: true })),
    ),

  update: abilityProcedure('write')
    .input(updateDocumentInput)
    .output(documentOutput)
    .mutation(({ ctx, input }) =>
      updateDocument(
        ctx.em,
        { log: ctx.deps.realtime.log, logger: ctx.deps.logger },
        ctx.tenant.organization.id,
        { userId: ctx.auth.user.id, name: ctx.auth.user.name },
        input,
      ),
    ),

  /**
   * Changes of one document (with `documentId`) or of every document the caller may see. Private documents reach
   * their owner only; a subscription to a document that becomes private to the caller ends with NOT_FOUND.
   */
  updates: abilityProcedure('read')
    .input(documentUpdatesInput)
    .subscription(async ({ ctx, input, signal }) => {
      const organizationId = ctx.tenant.organization.id;
      const userId = ctx.auth.user.id;
      const { documentId } = input;
      if (documentId) await findVisibleDocument(ctx.em, userId, documentId);
      const live = await openLive(ctx, {
        signal,
        ...(documentId
          ? { recheckResource: async (em) => void (await findVisibleDocument(em, userId, documentId)) }
          : {}),
      });
      const channel = documentId
        ? documentChannel(organizationId, documentId)
        : orgDocumentsChannel(organizationId);
      const { log, limits } = ctx.deps.realtime;
      return live.run(async function* (signal) {
        const items = log.subscribe<DocumentUpdate>(channel, {
          lastEventId: input.lastEventId,
          signal,
          retention: DOCUMENT_RETENTION,
          maxQueued: limits.maxQueuedPerSubscription,
        });
        for await (const item of items) {
          if (item.kind === 'gap') yield tracked<UpdateItem>(item.id, { type: 'resync' });
          if (item.kind !== 'event') continue;
          if (!canSee(item.data, userId)) {
            if (documentId) throw new AppError('NOT_FOUND', 'Document not found');
            continue;
          }
          yield tracked<UpdateItem>(item.id, item.data);
        }
      });
    }),

  /**
   * Who else has the document open: a snapshot (one entry per user, however many tabs), then joins, state changes
   * and leaves. Subscribing is being present; a resubscription gets a fresh snapshot.
   */
  presence: abilityProcedure('read')
    .input(documentPresenceInput)
    .subscription(async ({ ctx, input, signal }) => {
      const organizationId = ctx.tenant.organization.id;
      const userId = ctx.auth.user.id;
      const { documentId } = input;
      await findVisibleDocument(ctx.em, userId, documentId);
      const live = await openLive(ctx, {
        signal,
        recheckResource: async (em) => void (await findVisibleDocument(em, userId, documentId)),
      });
      const { presence, log, limits } = ctx.deps.realtime;
      const room = `${organizationId}:${documentId}`;
      const tab = {
        tabId: `${userId}:${randomUUID()}`,
        userId,
        name: ctx.auth.user.name,
        state: input.state,
      };
      return live.run(async function* (signal) {
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
            if (item.kind === 'start')
              yield tracked<PresenceItem>(item.id, { type: 'snapshot', users: snapshot });
            else if (item.kind === 'event') yield tracked<PresenceItem>(item.id, item.data);
          }
        } finally {
          unwatch();
          const goodbye = leave as (() => Promise<void>) | null;
          await goodbye?.().catch((err: unknown) => ctx.deps.logger.warn({ err }, 'presence leave failed'));
        }
      });
    }),

  /** A client event (cursor, selection, typing) to everyone viewing the document: rate-limited, not stored. */
  signal: abilityProcedure('read')
    .input(documentSignalInput)
    .output(z.object({ sent: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      const userId = ctx.auth.user.id;
      await findVisibleDocument(ctx.em, userId, input.documentId);
      await limitSignal(ctx.deps, userId, input.documentId);
      const event: DocumentSignal = {
        documentId: input.documentId,
        userId,
        name: ctx.auth.user.name,
        kind: input.kind,
        data: input.data,
        at: new Date().toISOString(),
      };
      await ctx.deps.pubsub.publish(signalChannel(ctx.tenant.organization.id, input.documentId), event);
      return { sent: true as const };
    }),

  /** Client events of a document as they happen. They are not stored, so there is nothing to replay. */
  signals: abilityProcedure('read')
    .input(z.object({ documentId: uuid, lastEventId: z.string().max(100).nullish() }).strict())
    .subscription(async ({ ctx, input, signal }) => {
      const userId = ctx.auth.user.id;
      const { documentId } = input;
      await findVisibleDocument(ctx.em, userId, documentId);
      const live = await openLive(ctx, {
        signal,
        recheckResource: async (em) => void (await findVisibleDocument(em, userId, documentId)),
      });
      const { pubsub, realtime } = ctx.deps;
      const channel = signalChannel(ctx.tenant.organization.id, documentId);
      return live.run(async function* (signal) {
        // Only the newest signal per sender and kind matters to a viewer that fell behind.
        const queue = new LiveQueue<DocumentSignal>(
          realtime.limits.maxQueuedPerSubscription,
          (s) => `${s.userId}:${s.kind}`,
        );
        const stop = await pubsub.listen<DocumentSignal>(channel, (s) => void queue.push(s));
        try {
          for (;;) {
            const next = await queue.next(signal);
            if (!next) return;
            yield next;
          }
        } finally {
          stop();
        }
      });
    }),
});
