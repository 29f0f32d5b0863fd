import { useInfiniteQuery, useMutation } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useTRPC } from '../../trpc.ts';
import { Button } from '../../ui/Button.tsx';
import { fieldErrorsOf } from '../../ui/errors.ts';
import { Field, FormError, formErrorOf } from '../../ui/Field.tsx';
import { formatDateTime } from '../../ui/format.ts';
import { Section } from '../../ui/layout.tsx';
import { QueryView } from '../../ui/QueryView.tsx';
import { useInvalidate } from '../../invalidate.ts';

const PAGE = 25;

export function DocumentsPage() {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const list = useInfiniteQuery(
    trpc.documents.list.infiniteQueryOptions(
      { limit: PAGE },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
  );
  // Any change to a document the caller can see refreshes the list (titles, order, new documents).
  useSubscription(
    trpc.documents.updates.subscriptionOptions({}, { onData: () => void invalidate(trpc.documents.list) }),
  );

  return (
    <div className="page">
      <header className="page-head">
        <h1>Documents</h1>
      </header>
      <div className="columns">
        <Section title="All documents">
          <QueryView
            query={list}
            loading="Loading documents…"
            empty={{
              when: (d) => d.pages.every((p) => p.items.length === 0),
              title: 'No documents yet',
              children: <p>Create the first one with the form beside this list.</p>,
            }}
          >
            {(data) => (
              <>
                <table className="table">
                  <thead>
                    <tr>
                      <th scope="col">Title</th>
                      <th scope="col">Owner</th>
                      <th scope="col">Version</th>
                      <th scope="col">Updated</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.pages
                      .flatMap((p) => p.items)
                      .map((d) => (
                        <tr key={d.id}>
                          <td>
                            <Link to={`/app/documents/${d.id}`}>{d.title}</Link>
                            {d.public ? null : <span className="badge">Private</span>}
                          </td>
                          <td>{d.ownerName}</td>
                          <td>{d.version}</td>
                          <td>{formatDateTime(d.updatedAt)}</td>
                        </tr>
                      ))}
                  </tbody>
                </table>
                {list.hasNextPage ? (
                  <Button busy={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
                    Load more
                  </Button>
                ) : null}
              </>
            )}
          </QueryView>
        </Section>
        <CreateDocument />
      </div>
    </div>
  );
}

function CreateDocument() {
  const trpc = useTRPC();
  const navigate = useNavigate();
  const [title, setTitle] = useState('');
  const [isPublic, setPublic] = useState(true);
  const create = useMutation(
    trpc.documents.create.mutationOptions({
      onSuccess: (doc) => void navigate(`/app/documents/${doc.id}`),
    }),
  );
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate({ title, public: isPublic });
  };
  const errors = fieldErrorsOf(create.error);
  return (
    <Section title="New document">
      <form className="form" onSubmit={onSubmit} noValidate>
        <FormError>{formErrorOf(create.error, ['title'])}</FormError>
        <Field
          label="Title"
          name="title"
          required
          value={title}
          onChange={(e) => setTitle(e.target.value)}
          errors={errors.title}
        />
        <label className="checkbox">
          <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} /> Visible
          to everyone in the organization
        </label>
        <Button type="submit" variant="primary" busy={create.isPending}>
          Create document
        </Button>
      </form>
    </Section>
  );
}
