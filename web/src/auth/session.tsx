import { hashKey, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, useContext, useEffect, type ReactNode } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { resetSession, useTRPC, type Me } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { isSignedOut, messageOf } from '../ui/errors.ts';
import { QueryView } from '../ui/QueryView.tsx';

const MeContext = createContext<Me | null>(null);

/** The signed-in user, their current organization and abilities. Only valid below <RequireSignedIn>. */
export function useMe(): Me {
  const me = useContext(MeContext);
  if (!me) throw new Error('useMe() used outside <RequireSignedIn>');
  return me;
}

export function homeFor(me: Me): string {
  return me.user.staff && !me.organization ? '/ops' : '/app';
}

/**
 * A session can end while a page is open (expiry, sign-out elsewhere). Any query that fails that way refreshes
 * `auth.me`, whose failure then sends the user to the sign-in page.
 */
function useSignedOutWatcher() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  useEffect(() => {
    const meHash = hashKey(trpc.auth.me.queryKey());
    return queryClient.getQueryCache().subscribe((event) => {
      if (event.type !== 'updated' || event.action.type !== 'error') return;
      if (event.query.queryHash === meHash || !isSignedOut(event.action.error)) return;
      void queryClient.invalidateQueries(trpc.auth.me.pathFilter());
    });
  }, [queryClient, trpc]);
}

export function RequireSignedIn({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const location = useLocation();
  const me = useQuery(trpc.auth.me.queryOptions(undefined, { staleTime: 60_000 }));
  useSignedOutWatcher();
  const next = encodeURIComponent(location.pathname + location.search);
  return (
    <QueryView
      query={me}
      loading="Loading your account…"
      errorTitle="Your account could not be loaded"
      known={(error) => (isSignedOut(error) ? <Navigate to={`/sign-in?next=${next}`} replace /> : undefined)}
    >
      {(data) => <MeContext.Provider value={data}>{children}</MeContext.Provider>}
    </QueryView>
  );
}

/** Signs out; a session that had already ended counts as signed out too. */
export function useSignOut() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const finish = async () => {
    await navigate('/sign-in', { replace: true, state: { signedOut: true } });
    await resetSession(queryClient);
  };
  return useMutation(
    trpc.auth.signOut.mutationOptions({
      onSuccess: finish,
      onError: (error) => {
        if (isSignedOut(error)) return finish();
      },
    }),
  );
}

/** The account menu: a native disclosure, so it opens and closes with the keyboard without any script. */
export function UserMenu() {
  const me = useMe();
  const signOut = useSignOut();
  return (
    <details className="menu">
      <summary aria-label={`Account menu for ${me.user.name}`}>
        <span className="avatar" aria-hidden="true">
          {initials(me.user.name)}
        </span>
        <span className="menu-name">{me.user.name}</span>
      </summary>
      <div className="menu-panel">
        <p className="menu-who">
          <strong>{me.user.name}</strong>
          <span className="muted">{me.user.email}</span>
          {me.user.staff ? <span className="badge">Staff</span> : null}
        </p>
        <Button variant="secondary" busy={signOut.isPending} onClick={() => signOut.mutate()}>
          Sign out
        </Button>
        {signOut.isError && !isSignedOut(signOut.error) ? (
          <p className="field-error" role="alert">
            {messageOf(signOut.error)}
          </p>
        ) : null}
      </div>
    </details>
  );
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/);
  return ((parts[0]?.[0] ?? '') + (parts.length > 1 ? (parts.at(-1)?.[0] ?? '') : '')).toUpperCase() || '?';
}
