import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState } from 'react';
import { BrowserRouter, Link, Navigate, Route, Routes } from 'react-router';
import { HomePage } from './app/HomePage.tsx';
import { TenantShell } from './app/TenantShell.tsx';
import { RegisterPage } from './auth/RegisterPage.tsx';
import { SignInPage } from './auth/SignInPage.tsx';
import { OpsHomePage } from './ops/OpsHomePage.tsx';
import { OpsShell } from './ops/OpsShell.tsx';
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
            <Route path="/app" element={<TenantShell />}>
              <Route index element={<HomePage />} />
            </Route>
            <Route path="/ops" element={<OpsShell />}>
              <Route index element={<OpsHomePage />} />
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
