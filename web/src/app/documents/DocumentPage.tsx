import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useEffect, useLayoutEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { useMe } from '../../auth/session.tsx';
import { useTRPC, type RouterOutputs } from '../../trpc.ts';
import { Button } from '../../ui/Button.tsx';
import { appCodeOf, messageOf } from '../../ui/errors.ts';
import { EmptyState } from '../../ui/states.tsx';
import { useSocketState } from '../ConnectionBanner.tsx';
import { PresenceBar } from './PresenceBar.tsx';
import { QueryView } from '../../ui/QueryView.tsx';

type Doc = RouterOutputs['documents']['get'];
type Draft = { title: string; content: string };
type SaveState = 'saved' | 'unsaved' | 'saving' | 'offline' | 'conflict' | 'error';

const AUTOSAVE_MS = 600;
const OFFLINE_RETRY_MS = 3_000;

/** Codes that mean "this caller may not see this document", which must read the same whether it exists or not. */
const NO_ACCESS = new Set(['NOT_FOUND', 'FORBIDDEN', 'VALIDATION_FAILED']);

export function DocumentPage() {
  const { id = '' } = useParams();
  const trpc = useTRPC();
  const doc = useQuery(
    trpc.documents.get.queryOptions({ id }, { staleTime: Infinity, refetchOnWindowFocus: false }),
  );
  return (
    <QueryView
      query={doc}
      loading="Loading document…"
      known={(error) => {
        const code = appCodeOf(error);
        return code && NO_ACCESS.has(code) ? (
          <EmptyState title="Document not found or no access">
            <p>It may have been deleted, made private, or belong to another organization.</p>
            <p>
              <Link to="/app/documents">Back to documents</Link>
            </p>
          </EmptyState>
        ) : undefined;
      }}
    >
      {(data) => <Editor key={data.id} initial={data} />}
    </QueryView>
  );
}

function conflictLatest(error: unknown): Doc | null {
  if (appCodeOf(error) !== 'CONFLICT') return null;
  const details = (error as { data?: { details?: { latest?: Doc } } }).data?.details;
  return details?.latest ?? null;
}

interface ViewState {
  base: Doc;
  draft: Draft;
  dirty: boolean;
  saving: boolean;
}

/** A mutable box for callbacks that outlive a render (timers, socket events). */
class EditorView {
  private wasLive = false;
  private dropped = false;
  constructor(public now: ViewState) {}
  /** True once per return to a live connection after it was lost. */
  reconnected(state: 'idle' | 'connecting' | 'pending'): boolean {
    if (state === 'connecting' && this.wasLive) this.dropped = true;
    if (state !== 'pending') return false;
    this.wasLive = true;
    const back = this.dropped;
    this.dropped = false;
    return back;
  }
  sync(next: Omit<ViewState, 'saving'>) {
    this.now = { ...this.now, ...next };
  }
  setSaving(saving: boolean) {
    this.now = { ...this.now, saving };
  }
}

function Editor({ initial }: { initial: Doc }) {
  const trpc = useTRPC();
  const me = useMe();
  const queryClient = useQueryClient();
  const socket = useSocketState();
  // `base` is the newest version this editor knows the server has; edits are saved on top of it.
  const [base, setBase] = useState<Doc>(initial);
  const [draft, setDraft] = useState<Draft>({ title: initial.title, content: initial.content });
  const [state, setState] = useState<SaveState>('saved');
  const [latest, setLatest] = useState<Doc | null>(null);
  const [errorText, setErrorText] = useState<string | null>(null);
  const [retryTick, setRetryTick] = useState(0);
  const [remoteNotice, setRemoteNotice] = useState<string | null>(null);
  const dirty = draft.title !== base.title || draft.content !== base.content;

  // What the live handlers and the autosave timer read: the state of the latest render, not of their closure.
  const [view] = useState(() => new EditorView({ base, draft, dirty, saving: false }));
  useLayoutEffect(() => view.sync({ base, draft, dirty }));

  const save = useMutation(trpc.documents.update.mutationOptions());

  useEffect(() => {
    if (!dirty || latest || save.isPending) return;
    const timer = setTimeout(() => {
      const sent = view.now.draft;
      const b = view.now.base;
      view.setSaving(true);
      setState('saving');
      save.mutate(
        {
          id: b.id,
          baseVersion: b.version,
          ...(sent.title !== b.title ? { title: sent.title } : {}),
          ...(sent.content !== b.content ? { content: sent.content } : {}),
        },
        {
          onSuccess: (saved) => {
            setBase(saved);
            setErrorText(null);
            const now = view.now.draft;
            setState(now.title === saved.title && now.content === saved.content ? 'saved' : 'unsaved');
          },
          onError: (error) => {
            const newer = conflictLatest(error);
            if (newer) {
              setLatest(newer);
              setState('conflict');
            } else if (appCodeOf(error) === null) {
              setState('offline');
              setTimeout(() => setRetryTick((t) => t + 1), OFFLINE_RETRY_MS);
            } else {
              setErrorText(messageOf(error));
              setState('error');
            }
          },
          onSettled: () => {
            view.setSaving(false);
          },
        },
      );
    }, AUTOSAVE_MS);
    return () => clearTimeout(timer);
    // `save` changes identity with its state; the pending flag is what matters here.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [draft, dirty, latest, save.isPending, retryTick]);

  const applyRemote = (next: Doc, author: string | null) => {
    const { dirty: hasLocal, base: known } = view.now;
    if (next.version <= known.version) return;
    // With unsaved local edits the base stays put, so the next save meets CONFLICT and the user chooses.
    if (hasLocal || view.now.saving) {
      if (author) setRemoteNotice(`${author} saved a newer version.`);
      return;
    }
    setBase(next);
    setDraft({ title: next.title, content: next.content });
    if (author) setRemoteNotice(`Updated by ${author}.`);
  };

  const refetchLatest = async (author: string | null) => {
    const fresh = await queryClient.fetchQuery({
      ...trpc.documents.get.queryOptions({ id: initial.id }),
      staleTime: 0,
    });
    applyRemote(fresh, author);
  };

  const updates = useSubscription(
    trpc.documents.updates.subscriptionOptions(
      { documentId: initial.id },
      {
        // The stream resumes from its last event id, but one that had delivered nothing yet has no id to resume
        // from: after any reconnect the document is read again, so edits made while away are never missed.
        onConnectionStateChange: (c) => {
          if (view.reconnected(c.state)) void refetchLatest(null);
        },
        onData: ({ data }) => {
          if (data.type === 'resync') return void refetchLatest(null);
          if (data.authorId === me.user.id && view.now.saving) return;
          if (data.contentOmitted) return void refetchLatest(data.authorName);
          const known = view.now.base;
          // A version skipped means a change this editor never saw (its announcement is late or was lost): its
          // fields cannot be merged from this event alone, so the document is read again.
          if (data.version > known.version + 1) return void refetchLatest(data.authorName);
          applyRemote(
            {
              ...known,
              ...data.changes,
              version: data.version,
              public: data.public,
              updatedById: data.authorId,
              updatedAt: new Date(data.at),
            },
            data.authorName,
          );
        },
      },
    ),
  );

  const keepMine = () => {
    if (!latest) return;
    setBase(latest);
    setLatest(null);
    setState('unsaved');
  };
  const takeLatest = () => {
    if (!latest) return;
    setBase(latest);
    setDraft({ title: latest.title, content: latest.content });
    setLatest(null);
    setState('saved');
  };

  const offline = socket === 'reconnecting' || state === 'offline';
  const statusText =
    state === 'conflict'
      ? 'Not saved: someone else saved first'
      : state === 'error'
        ? `Not saved: ${errorText ?? 'error'}`
        : offline && dirty
          ? 'Offline — changes will be saved when the connection returns'
          : state === 'saving' || save.isPending
            ? 'Saving…'
            : dirty
              ? 'Unsaved changes'
              : offline
                ? 'Offline'
                : 'Saved';

  return (
    <div className="page document-page">
      <p>
        <Link to="/app/documents">← Documents</Link>
      </p>
      <div className="document-head">
        <label className="visually-hidden" htmlFor="document-title">
          Title
        </label>
        <input
          id="document-title"
          className="document-title"
          value={draft.title}
          disabled={Boolean(latest)}
          onChange={(e) => setDraft((d) => ({ ...d, title: e.target.value }))}
        />
        <span className={`save-status save-${offline ? 'offline' : state}`} role="status" aria-live="polite">
          {statusText}
        </span>
      </div>
      <p className="muted small">
        Version {base.version} · owned by {base.ownerName}
        {base.public ? '' : ' · private'}
        {updates.status === 'error' ? ` · live updates stopped: ${messageOf(updates.error)}` : ''}
      </p>
      <PresenceBar documentId={initial.id} />
      {remoteNotice ? (
        <p className="muted small" aria-live="polite">
          {remoteNotice}
        </p>
      ) : null}
      {latest ? (
        <section className="card conflict" aria-label="Conflict">
          <h2 role="alert">Someone else saved first</h2>
          <p>
            Version {latest.version} was saved while you were editing. Choose which text to keep; nothing is
            lost until you choose.
          </p>
          <div className="columns">
            <section aria-label="Your version">
              <h3>Your version</h3>
              <p className="strong">{draft.title}</p>
              <pre className="conflict-text">{draft.content}</pre>
            </section>
            <section aria-label="Latest version">
              <h3>Latest version (v{latest.version})</h3>
              <p className="strong">{latest.title}</p>
              <pre className="conflict-text">{latest.content}</pre>
            </section>
          </div>
          <div className="dialog-actions">
            <Button variant="primary" onClick={keepMine}>
              Keep mine
            </Button>
            <Button onClick={takeLatest}>Take latest</Button>
          </div>
        </section>
      ) : null}
      <label htmlFor="document-content" className="visually-hidden">
        Content
      </label>
      <textarea
        id="document-content"
        className="document-content"
        value={draft.content}
        disabled={Boolean(latest)}
        rows={18}
        onChange={(e) => setDraft((d) => ({ ...d, content: e.target.value }))}
      />
    </div>
  );
}
