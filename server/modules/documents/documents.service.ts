import { AppError } from '../../../shared/errors.ts';
import type { DocumentOutput, DocumentSummary, DocumentUpdate } from '../../../shared/schemas/documents.ts';
import type { Em } from '../../platform/db/context.ts';
import type { EventLog, Retention } from '../../platform/pubsub/event-log.ts';
import { recordActivity } from '../activity/activity.service.ts';
import { relayOutbox, stageMessages, type OutboxDeps } from '../realtime/outbox.ts';
import { orgEventMessage } from '../realtime/realtime.service.ts';
import { Document, type IDocument } from './document.entity.ts';

/** One document's changes (`documents.updates` with a documentId). */
export const documentChannel = (organizationId: string, documentId: string) =>
  `doc:${organizationId}:${documentId}`;
/** Every document change in the organization, filtered per subscriber by visibility. */
export const orgDocumentsChannel = (organizationId: string) => `org:${organizationId}:documents`;
export const DOCUMENT_RETENTION: Retention = { maxLen: 1000, maxAgeMs: 24 * 3600_000 };

/** Update events stay well inside one 64 KiB WebSocket frame; larger content is fetched instead. */
const MAX_EVENT_CONTENT_BYTES = 48 * 1024;

export interface Actor {
  userId: string;
  name: string;
}

/** Public documents are visible to every member; private ones to their owner only. */
export const canSee = (doc: { public: boolean; ownerId: string }, userId: string) =>
  doc.public || doc.ownerId === userId;

export function toSummary(d: IDocument): DocumentSummary {
  return {
    id: d.id,
    title: d.title,
    version: d.version,
    public: d.public,
    ownerId: d.owner.id,
    ownerName: d.owner.name,
    updatedById: d.updatedBy?.id ?? null,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

export function toOutput(d: IDocument): DocumentOutput {
  return { ...toSummary(d), content: d.content };
}

/** A document the user may see, or NOT_FOUND (a private document of someone else does not exist for them). */
export async function findVisibleDocument(
  em: Em,
  userId: string,
  id: string,
  opts: { content?: boolean; refresh?: boolean } = {},
): Promise<IDocument> {
  const doc = await em.findOne(
    Document,
    { id },
    {
      populate: opts.content ? ['owner', 'content'] : ['owner'],
      ...(opts.refresh ? { refresh: true } : {}),
    },
  );
  if (!doc || !canSee({ public: doc.public, ownerId: doc.owner.id }, userId)) {
    throw new AppError('NOT_FOUND', 'Document not found');
  }
  return doc;
}

function updateEvent(
  type: DocumentUpdate['type'],
  doc: IDocument,
  actor: Actor,
  changes: DocumentUpdate['changes'],
): DocumentUpdate {
  let contentOmitted = false;
  if (changes.content !== undefined && Buffer.byteLength(changes.content) > MAX_EVENT_CONTENT_BYTES) {
    const { content: _omitted, ...rest } = changes;
    changes = rest;
    contentOmitted = true;
  }
  return {
    type,
    documentId: doc.id,
    version: doc.version,
    ownerId: doc.owner.id,
    public: doc.public,
    authorId: actor.userId,
    authorName: actor.name,
    changes,
    contentOmitted,
    at: new Date().toISOString(),
  };
}

/**
 * The messages announcing a saved change, staged in the change's unit of work (see outbox.ts): if Redis is down when
 * it commits, the change is still saved, and announced once Redis is back.
 */
function stageAnnouncement(em: Em, log: EventLog, organizationId: string, event: DocumentUpdate) {
  return stageMessages(em, log, organizationId, [
    {
      channel: documentChannel(organizationId, event.documentId),
      data: event,
      retention: DOCUMENT_RETENTION,
    },
    { channel: orgDocumentsChannel(organizationId), data: event, retention: DOCUMENT_RETENTION },
    // Organization-wide events reach every member: only public documents are mentioned there.
    ...(event.public
      ? [
          orgEventMessage(organizationId, {
            type: `document.${event.type}`,
            actorId: event.authorId,
            subjectId: event.documentId,
            data: { title: event.changes.title, version: event.version },
          }),
        ]
      : []),
  ]);
}

export async function createDocument(
  em: Em,
  events: OutboxDeps,
  organizationId: string,
  actor: Actor,
  input: { title: string; content: string; public: boolean },
): Promise<DocumentOutput> {
  const doc = em.create(Document, {
    organization: organizationId,
    owner: actor.userId,
    title: input.title,
    content: input.content,
    public: input.public,
    version: 1,
    updatedBy: actor.userId,
  });
  recordActivity(em, {
    organizationId,
    userId: actor.userId,
    action: 'document.created',
    subjectType: 'document',
    subjectId: doc.id,
  });
  const staged = stageAnnouncement(
    em,
    events.log,
    organizationId,
    updateEvent('created', doc, actor, { title: doc.title, content: doc.content, public: doc.public }),
  );
  await em.flush();
  await relayOutbox(em, events, staged);
  await em.populate(doc, ['owner']);
  return toOutput(doc);
}

export interface UpdateDocumentInput {
  id: string;
  baseVersion: number;
  title?: string | undefined;
  content?: string | undefined;
  public?: boolean | undefined;
}

/**
 * Saves a change made on `baseVersion`. The version check and the write are one conditional UPDATE, so of two
 * saves made on the same version exactly one succeeds; the other gets CONFLICT with the latest version.
 */
export async function updateDocument(
  em: Em,
  events: OutboxDeps,
  organizationId: string,
  actor: Actor,
  input: UpdateDocumentInput,
): Promise<DocumentOutput> {
  const doc = await findVisibleDocument(em, actor.userId, input.id);
  if (input.public !== undefined && input.public !== doc.public && doc.owner.id !== actor.userId) {
    throw new AppError('ABILITY_MISSING', 'Only the owner can change who sees a document', {
      fieldErrors: { public: ['only the owner can change this'] },
    });
  }
  const changes: DocumentUpdate['changes'] = {};
  if (input.title !== undefined) changes.title = input.title;
  if (input.content !== undefined) changes.content = input.content;
  if (input.public !== undefined) changes.public = input.public;
  // The version-checked write, its activity record and its announcement commit together, or not at all.
  const staged = await em.transactional(async (tx) => {
    const saved = await tx.nativeUpdate(
      Document,
      { id: input.id, version: input.baseVersion },
      { ...changes, version: input.baseVersion + 1, updatedBy: actor.userId, updatedAt: new Date() },
    );
    if (saved === 0) return null;
    recordActivity(tx, {
      organizationId,
      userId: actor.userId,
      action: 'document.updated',
      subjectType: 'document',
      subjectId: input.id,
      metadata: { version: input.baseVersion + 1, fields: Object.keys(changes) },
    });
    // The event describes this save (version base + 1), even if another save has followed it already.
    const event = updateEvent('updated', doc, actor, changes);
    event.version = input.baseVersion + 1;
    event.public = input.public ?? doc.public;
    return stageAnnouncement(tx, events.log, organizationId, event);
  });
  if (!staged) {
    const latest = await findVisibleDocument(em, actor.userId, input.id, { content: true, refresh: true });
    throw new AppError(
      'CONFLICT',
      `This document was saved by someone else first: the latest version is ${latest.version}`,
      {
        fieldErrors: { baseVersion: [`is out of date: the latest version is ${latest.version}`] },
        latestVersion: latest.version,
        latest: toOutput(latest),
      },
    );
  }
  await relayOutbox(em, events, staged);
  return toOutput(await findVisibleDocument(em, actor.userId, input.id, { content: true, refresh: true }));
}
