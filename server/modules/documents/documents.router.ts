import { z } from 'zod';
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
} from '../../../shared/schemas/documents.ts';
import { uuid } from '../../../shared/schemas/common.ts';
import type { Em } from '../../platform/db/context.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure } from '../../trpc/procedures.ts';
import { openLive, type LiveContext } from '../realtime/live.ts';
import { documentPresence, documentSignals, documentUpdates, sendSignal } from './documents.live.ts';
import { readDocumentPage, readVisibleDocument } from './documents.reads.ts';
import { createDocument, findVisibleDocument, updateDocument } from './documents.service.ts';

/** The caller as the live side of documents knows them. */
const viewerOf = (ctx: {
  tenant: { organization: { id: string } };
  auth: { user: { id: string; name: string } };
}) => ({ organizationId: ctx.tenant.organization.id, userId: ctx.auth.user.id, name: ctx.auth.user.name });

/** A live subscription on one document: it must be visible now, and it ends when it stops being visible. */
async function openVisible(
  ctx: LiveContext & { em: Em },
  documentId: string,
  signal: AbortSignal | undefined,
) {
  const userId = ctx.auth.user.id;
  await findVisibleDocument(ctx.em, userId, documentId);
  return openLive(ctx, {
    signal,
    recheckResource: async (em) => void (await findVisibleDocument(em, userId, documentId)),
  });
}

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
    .query(({ ctx, input }) => readDocumentPage(ctx.em, viewerOf(ctx), input)),

  get: abilityProcedure('read')
    .input(documentIdInput)
    .output(documentOutput)
    .query(({ ctx, input }) => readVisibleDocument(ctx.em, viewerOf(ctx), input.id)),

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
      const viewer = viewerOf(ctx);
      const { documentId } = input;
      if (documentId) await findVisibleDocument(ctx.em, viewer.userId, documentId);
      const live = await openLive(ctx, {
        signal,
        ...(documentId
          ? {
              recheckResource: async (em) => void (await findVisibleDocument(em, viewer.userId, documentId)),
            }
          : {}),
      });
      return live.run((signal) => documentUpdates(ctx.deps, viewer, input, signal));
    }),

  /**
   * Who else has the document open: a snapshot (one entry per user, however many tabs), then joins, state changes
   * and leaves. Subscribing is being present; a resubscription gets a fresh snapshot.
   */
  presence: abilityProcedure('read')
    .input(documentPresenceInput)
    .subscription(async ({ ctx, input, signal }) => {
      const viewer = viewerOf(ctx);
      const live = await openVisible(ctx, input.documentId, signal);
      return live.run((signal) => documentPresence(ctx.deps, viewer, input, signal));
    }),

  /** A client event (cursor, selection, typing) to everyone viewing the document: rate-limited, not stored. */
  signal: abilityProcedure('read')
    .input(documentSignalInput)
    .output(z.object({ sent: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      await findVisibleDocument(ctx.em, ctx.auth.user.id, input.documentId);
      await sendSignal(ctx.deps, viewerOf(ctx), input);
      return { sent: true as const };
    }),

  /** Client events of a document as they happen. They are not stored, so there is nothing to replay. */
  signals: abilityProcedure('read')
    .input(z.object({ documentId: uuid, lastEventId: z.string().max(100).nullish() }).strict())
    .subscription(async ({ ctx, input, signal }) => {
      const viewer = viewerOf(ctx);
      const live = await openVisible(ctx, input.documentId, signal);
      return live.run((signal) => documentSignals(ctx.deps, viewer, input.documentId, signal));
    }),
});
