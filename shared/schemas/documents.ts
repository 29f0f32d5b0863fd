import { z } from 'zod';
import { infiniteListInput, text, uuid } from './common.ts';
import { lastEventIdInput } from './realtime.ts';

export const DOCUMENT_CONTENT_MAX = 20_000;

// Content keeps newlines, carriage returns and tabs; other control characters are refused like everywhere else.
const isControl = (c: number) => (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f;
const content = z
  .string()
  .max(DOCUMENT_CONTENT_MAX, `must be at most ${DOCUMENT_CONTENT_MAX} characters`)
  .refine((s) => {
    for (let i = 0; i < s.length; i++) if (isControl(s.charCodeAt(i))) return false;
    return true;
  }, 'must not contain control characters');

export const documentOutput = z.object({
  id: z.string(),
  title: z.string(),
  content: z.string(),
  version: z.number().int(),
  public: z.boolean(),
  ownerId: z.string(),
  ownerName: z.string(),
  updatedById: z.string().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type DocumentOutput = z.infer<typeof documentOutput>;

export const documentSummary = documentOutput.omit({ content: true });
export type DocumentSummary = z.infer<typeof documentSummary>;

export const createDocumentInput = z
  .object({ title: text(200), content: content.default(''), public: z.boolean().default(true) })
  .strict();

export const updateDocumentInput = z
  .object({
    id: uuid,
    /** The version the edit was made on; the save fails with CONFLICT when someone saved after it. */
    baseVersion: z.number().int().min(1),
    title: text(200).optional(),
    content: content.optional(),
    /** Only the owner may change who can see the document. */
    public: z.boolean().optional(),
  })
  .strict()
  .refine((v) => v.title !== undefined || v.content !== undefined || v.public !== undefined, {
    message: 'nothing to change',
    path: ['title'],
  });

export const listDocumentsInput = infiniteListInput({});

export const documentIdInput = z.object({ id: uuid }).strict();

export const documentUpdate = z.object({
  type: z.enum(['created', 'updated']),
  documentId: z.string(),
  version: z.number().int(),
  ownerId: z.string(),
  public: z.boolean(),
  authorId: z.string(),
  authorName: z.string(),
  /** The fields this version changed, with their new values. */
  changes: z.object({
    title: z.string().optional(),
    content: z.string().optional(),
    public: z.boolean().optional(),
  }),
  /** The new content was too large for one WebSocket frame: fetch the document. */
  contentOmitted: z.boolean(),
  at: z.string(),
});
export type DocumentUpdate = z.infer<typeof documentUpdate>;

export const documentUpdatesInput = z.object({ documentId: uuid.optional(), ...lastEventIdInput }).strict();

export const PRESENCE_STATES = ['viewing', 'editing'] as const;
export const documentPresenceInput = z
  .object({ documentId: uuid, state: z.enum(PRESENCE_STATES).default('viewing'), ...lastEventIdInput })
  .strict();

export const SIGNAL_KINDS = ['cursor', 'selection', 'typing'] as const;
export const SIGNAL_DATA_MAX_BYTES = 2048;
export const documentSignalInput = z
  .object({
    documentId: uuid,
    kind: z.enum(SIGNAL_KINDS),
    data: z
      .record(z.string().max(64), z.union([z.string().max(500), z.number(), z.boolean(), z.null()]))
      .refine((d) => Object.keys(d).length <= 20, 'at most 20 fields')
      .refine(
        (d) => new TextEncoder().encode(JSON.stringify(d)).length <= SIGNAL_DATA_MAX_BYTES,
        `must be at most ${SIGNAL_DATA_MAX_BYTES} bytes`,
      ),
  })
  .strict();

export const documentSignal = z.object({
  documentId: z.string(),
  userId: z.string(),
  name: z.string(),
  kind: z.enum(SIGNAL_KINDS),
  data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  at: z.string(),
});
export type DocumentSignal = z.infer<typeof documentSignal>;
