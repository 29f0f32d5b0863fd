import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState, type ComponentType } from 'react';
import { BrowserRouter, Link, Navigate, Route, Routes } from 'react-router';
import { BillingPage as TenantBillingPage } from './app/BillingPage.tsx';
import { DocumentPage } from './app/documents/DocumentPage.tsx';
import { DocumentsPage } from './app/documents/DocumentsPage.tsx';
import { ExportsPage } from './app/ExportsPage.tsx';
import { HomePage } from './app/HomePage.tsx';
import { ImportsPage } from './app/ImportsPage.tsx';
import { MembersPage } from './app/MembersPage.tsx';
import { TenantShell } from './app/TenantShell.tsx';
import { TokensPage } from './app/TokensPage.tsx';
import { AcceptInvitationPage } from './auth/AcceptInvitationPage.tsx';
import { ForgotPasswordPage } from './auth/ForgotPasswordPage.tsx';
import { RegisterPage } from './auth/RegisterPage.tsx';
import { ResetPasswordPage } from './auth/ResetPasswordPage.tsx';
import { SignInPage } from './auth/SignInPage.tsx';
import { AlertsPage } from './ops/AlertsPage.tsx';
import { AuditPage } from './ops/AuditPage.tsx';
import { BatchesPage } from './ops/BatchesPage.tsx';
import { BillingPage } from './ops/BillingPage.tsx';
import { FlagPage } from './ops/FlagPage.tsx';
import { FlagsPage } from './ops/FlagsPage.tsx';
import { JobPage } from './ops/JobPage.tsx';
import { JobsPage } from './ops/JobsPage.tsx';
import { OpsHomePage } from './ops/OpsHomePage.tsx';
import { OpsNotFound, OpsShell } from './ops/OpsShell.tsx';
import { PerformancePage } from './ops/PerformancePage.tsx';
import { QueuesPage } from './ops/QueuesPage.tsx';
import { TenantPage } from './ops/TenantPage.tsx';
import { TenantsPage } from './ops/TenantsPage.tsx';
import { childPath, routesOf, type Area, type RouteId } from './routes.ts';
import { RoutePage } from './RoutePage.tsx';
import { TRPCProvider, trpcClient } from './trpc.ts';
import { isRetryable } from './ui/errors.ts';
import { CenteredPage } from './ui/layout.tsx';

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

/** The component of every page of the route table (web/src/routes.ts); the table decides who may see it. */
const PAGES: Record<RouteId, ComponentType> = {
  'app.home': HomePage,
  'app.documents': DocumentsPage,
  'app.document': DocumentPage,
  'app.exports': ExportsPage,
  'app.imports': ImportsPage,
  'app.members': MembersPage,
  'app.tokens': TokensPage,
  'app.billing': TenantBillingPage,
  'ops.home': OpsHomePage,
  'ops.queues': QueuesPage,
  'ops.jobs': JobsPage,
  'ops.job': JobPage,
  'ops.batches': BatchesPage,
  'ops.flags': FlagsPage,
  'ops.flag': FlagPage,
  'ops.tenants': TenantsPage,
  'ops.tenant': TenantPage,
  'ops.billing': BillingPage,
  'ops.alerts': AlertsPage,
  'ops.performance': PerformancePage,
  'ops.audit': AuditPage,
};

function pageRoutes(area: Area) {
  return routesOf(area).map((route) => {
    const Page = PAGES[route.id];
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
          <Routes>
            <Route path="/" element={<Navigate to="/app" replace />} />
            <Route path="/sign-in" element={<SignInPage />} />
            <Route path="/register" element={<RegisterPage />} />
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
