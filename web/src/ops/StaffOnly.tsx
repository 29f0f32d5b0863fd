import { Link } from 'react-router';
import { UserMenu } from '../auth/session.tsx';
import { Shell } from '../ui/layout.tsx';

export function StaffOnly() {
  return (
    <Shell brand="Keel" home="/app" actions={<UserMenu />}>
      <title>Staff only · Keel</title>
      <div className="state state-refused" role="alert">
        <h1>Staff only</h1>
        <p>The operations console is for Keel staff. Your account does not have access to it.</p>
        <p>
          <Link to="/app">Go to your organization</Link>
        </p>
      </div>
    </Shell>
  );
}
