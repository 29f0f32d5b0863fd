import { NavLink } from 'react-router';
import { AuditTrail } from '../AuditTrail.tsx';
import { oneOf, useUrlState } from '../url.ts';
import { FailedJobs } from './FailedJobs.tsx';
import { IndexedJobs } from './IndexedJobs.tsx';
import { JobSearch } from './JobSearch.tsx';
import { LIST_LABELS, LISTS } from './useJobs.ts';

/** The lists, then the search over every state (ADR 0026). */
const TABS = [...LISTS, 'search'] as const;
const TAB_LABELS = { ...LIST_LABELS, search: 'Search' };

/** The job lists as tabs (in the URL), with the operator actions taken on jobs below. */
export function JobsPage() {
  const { get } = useUrlState();
  const list = oneOf(get('list'), TABS, 'recent');
  return (
    <div className="page">
      <div className="page-title">
        <h1>Jobs</h1>
      </div>
      <nav className="tabs" aria-label="Job lists">
        {TABS.map((l) => (
          <NavLink
            key={l}
            to={l === 'recent' ? '/ops/jobs' : `/ops/jobs?list=${l}`}
            className={() => (l === list ? 'tab active' : 'tab')}
            aria-current={l === list ? 'page' : undefined}
            end
          >
            {TAB_LABELS[l]}
          </NavLink>
        ))}
      </nav>
      {list === 'search' ? (
        <JobSearch key="search" />
      ) : list === 'failed' ? (
        <FailedJobs key="failed" />
      ) : (
        <IndexedJobs key={list} list={list} />
      )}
      <AuditTrail title="Job actions" targetType="job" showTarget />
    </div>
  );
}
