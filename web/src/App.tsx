import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState } from 'react';
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
              <Route index element={<HomePage />} />
              <Route path="documents" element={<DocumentsPage />} />
              <Route path="documents/:id" element={<DocumentPage />} />
              <Route path="exports" element={<ExportsPage />} />
              <Route path="imports" element={<ImportsPage />} />
              <Route path="members" element={<MembersPage />} />
              <Route path="tokens" element={<TokensPage />} />
              <Route path="billing" element={<TenantBillingPage />} />
            </Route>
            <Route path="/ops" element={<OpsShell />}>
              <Route index element={<OpsHomePage />} />
              <Route path="queues" element={<QueuesPage />} />
              <Route path="jobs" element={<JobsPage />} />
              <Route path="jobs/:id" element={<JobPage />} />
              <Route path="batches" element={<BatchesPage />} />
              <Route path="flags" element={<FlagsPage />} />
              <Route path="flags/:key" element={<FlagPage />} />
              <Route path="tenants" element={<TenantsPage />} />
              <Route path="tenants/:id" element={<TenantPage />} />
              <Route path="billing" element={<BillingPage />} />
              <Route path="alerts" element={<AlertsPage />} />
              <Route path="performance" element={<PerformancePage />} />
              <Route path="audit" element={<AuditPage />} />
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
