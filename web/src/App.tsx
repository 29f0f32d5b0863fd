import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, Suspense, useState, type ComponentType, type LazyExoticComponent } from 'react';
import { BrowserRouter, Link, matchPath, Navigate, Route, Routes } from 'react-router';
import { TenantShell } from './app/TenantShell.tsx';
import { AcceptInvitationPage } from './auth/AcceptInvitationPage.tsx';
import { ConfirmRegistrationPage } from './auth/ConfirmRegistrationPage.tsx';
import { ForgotPasswordPage } from './auth/ForgotPasswordPage.tsx';
import { RegisterPage } from './auth/RegisterPage.tsx';
import { ResetPasswordPage } from './auth/ResetPasswordPage.tsx';
import { SignInPage } from './auth/SignInPage.tsx';
import { areaOf, childPath, ROUTES, routesOf, type Area, type RouteId } from './routes.ts';
import { RoutePage } from './RoutePage.tsx';
import { TRPCProvider, trpcClient } from './trpc.ts';
import { isRetryable } from './ui/errors.ts';
import { CenteredPage } from './ui/layout.tsx';
import { Loading } from './ui/states.tsx';

// The console's frame (and its styles) load with its first page.
const loadOpsShell = () => import('./ops/OpsShell.tsx');
const OpsShell = lazy(() => loadOpsShell().then((m) => ({ default: m.OpsShell })));
const OpsNotFound = lazy(() => loadOpsShell().then((m) => ({ default: m.OpsNotFound })));

function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        retry: (failures, error) => isRetryable(error) && failures < 2,
        refetchOnWindowFocus: true,
      },
      mutations: { retry: false },
    },
  });
}

/**
 * The component of every page of the route table (web/src/routes.ts); the table decides who may see it. Each page is
 * its own chunk, loaded when first opened: a tenant user never downloads the console, and the console's charts
 * (recharts) load with the first chart.
 */
type PageModule = Promise<{ default: ComponentType }>;

const IMPORTS: Record<RouteId, () => PageModule> = {
  'app.home': () => import('./app/HomePage.tsx').then((m) => ({ default: m.HomePage })),
  'app.documents': () =>
    import('./app/documents/DocumentsPage.tsx').then((m) => ({ default: m.DocumentsPage })),
  'app.document': () => import('./app/documents/DocumentPage.tsx').then((m) => ({ default: m.DocumentPage })),
  'app.exports': () => import('./app/ExportsPage.tsx').then((m) => ({ default: m.ExportsPage })),
  'app.imports': () => import('./app/ImportsPage.tsx').then((m) => ({ default: m.ImportsPage })),
  'app.members': () => import('./app/MembersPage.tsx').then((m) => ({ default: m.MembersPage })),
  'app.tokens': () => import('./app/TokensPage.tsx').then((m) => ({ default: m.TokensPage })),
  'app.billing': () => import('./app/BillingPage.tsx').then((m) => ({ default: m.BillingPage })),
  'ops.home': () => import('./ops/home/OpsHomePage.tsx').then((m) => ({ default: m.OpsHomePage })),
  'ops.queues': () => import('./ops/QueuesPage.tsx').then((m) => ({ default: m.QueuesPage })),
  'ops.jobs': () => import('./ops/jobs/JobsPage.tsx').then((m) => ({ default: m.JobsPage })),
  'ops.job': () => import('./ops/jobs/JobPage.tsx').then((m) => ({ default: m.JobPage })),
  'ops.batches': () => import('./ops/BatchesPage.tsx').then((m) => ({ default: m.BatchesPage })),
  'ops.flags': () => import('./ops/FlagsPage.tsx').then((m) => ({ default: m.FlagsPage })),
  'ops.flag': () => import('./ops/FlagPage.tsx').then((m) => ({ default: m.FlagPage })),
  'ops.tenants': () => import('./ops/TenantsPage.tsx').then((m) => ({ default: m.TenantsPage })),
  'ops.tenant': () => import('./ops/TenantPage.tsx').then((m) => ({ default: m.TenantPage })),
  'ops.billing': () => import('./ops/BillingPage.tsx').then((m) => ({ default: m.BillingPage })),
  'ops.alerts': () => import('./ops/AlertsPage.tsx').then((m) => ({ default: m.AlertsPage })),
  'ops.performance': () => import('./ops/PerformancePage.tsx').then((m) => ({ default: m.PerformancePage })),
  'ops.audit': () => import('./ops/AuditPage.tsx').then((m) => ({ default: m.AuditPage })),
};

const lazyPages = new Map<RouteId, LazyExoticComponent<ComponentType>>();
/** One lazy component per page, made once: a new one per render would remount the page. */
function pageOf(id: RouteId): LazyExoticComponent<ComponentType> {
  let page = lazyPages.get(id);
  if (!page) {
    page = lazy(IMPORTS[id]);
    lazyPages.set(id, page);
  }
  return page;
}

/**
 * Starts loading the opened page's chunk (and the console's frame) at once, alongside `auth.me`, instead of after
 * it: without this, a first visit waits for the shell, then the account, then the page, one after the other.
 */
function preloadPage(pathname: string): void {
  const route = ROUTES.find((r) => matchPath(r.path, pathname));
  if (!route) return;
  if (areaOf(route) === 'ops') void loadOpsShell();
  void IMPORTS[route.id]();
}
preloadPage(window.location.pathname);

function pageRoutes(area: Area) {
  return routesOf(area).map((route) => {
    const Page = pageOf(route.id);
    const element = (
      <RoutePage route={route}>
        <Page />
      </RoutePage>
    );
    const path = childPath(route);
    return path === '' ? (
      <Route key={route.id} index element={element} />
    ) : (
      <Route key={route.id} path={path} element={element} />
    );
  });
}

export function App() {
  const [queryClient] = useState(makeQueryClient);
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        <BrowserRouter>
          <Suspense fallback={<Loading />}>
            <Routes>
              <Route path="/" element={<Navigate to="/app" replace />} />
              <Route path="/sign-in" element={<SignInPage />} />
              <Route path="/register" element={<RegisterPage />} />
              <Route path="/register/confirm" element={<ConfirmRegistrationPage />} />
              <Route path="/forgot-password" element={<ForgotPasswordPage />} />
              <Route path="/reset-password" element={<ResetPasswordPage />} />
              <Route path="/invitations/accept" element={<AcceptInvitationPage />} />
              <Route path="/app" element={<TenantShell />}>
                {pageRoutes('app')}
              </Route>
              <Route path="/ops" element={<OpsShell />}>
                {pageRoutes('ops')}
                <Route path="*" element={<OpsNotFound />} />
              </Route>
              <Route path="*" element={<NotFound />} />
            </Routes>
          </Suspense>
        </BrowserRouter>
      </TRPCProvider>
    </QueryClientProvider>
  );
}

function NotFound() {
  return (
    <CenteredPage title="Page not found">
      <p>There is nothing at this address.</p>
      <p>
        <Link to="/app">Go to the app</Link>
      </p>
    </CenteredPage>
  );
}
