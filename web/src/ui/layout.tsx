import type { ReactNode } from 'react';
import { Link } from 'react-router';

/** The frame both shells share: a header with the product, navigation and account controls, then the page. */
export function Shell({
  brand,
  home,
  nav,
  actions,
  children,
}: {
  brand: string;
  home: string;
  nav?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
}) {
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="shell-header">
        <Link to={home} className="brand">
          {brand}
        </Link>
        {nav ? (
          <nav aria-label="Main" className="shell-nav">
            {nav}
          </nav>
        ) : null}
        <div className="shell-actions">{actions}</div>
      </header>
      <main id="main" className="shell-main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}

/** Sign-in and registration: one centred card, no shell. */
export function CenteredPage({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main id="main" className="centered">
      <title>{`${title} · Keel`}</title>
      <div className="card centered-card">
        <p className="brand brand-large">Keel</p>
        <h1>{title}</h1>
        {children}
      </div>
    </main>
  );
}

export function Section({
  title,
  aside,
  children,
}: {
  title: string;
  aside?: ReactNode;
  children: ReactNode;
}) {
  return (
    <section className="card section" aria-label={title}>
      <div className="section-head">
        <h2>{title}</h2>
        {aside}
      </div>
      {children}
    </section>
  );
}

export function Stat({ label, value }: { label: string; value: ReactNode }) {
  return (
    <div className="card stat">
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </div>
  );
}
