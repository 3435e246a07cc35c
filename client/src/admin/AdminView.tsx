/** Admin: every user (online, role, disabled), each user's devices, revocation, and the audit log. */
import { useState } from 'react';
import { BackButton, Icon } from '../ui/bits.js';
import { AuditPanel } from './AuditPanel.js';
import { RegistrationPanel } from './RegistrationPanel.js';
import { UsersPanel } from './UsersPanel.js';

type Tab = 'users' | 'audit';

export function AdminView() {
  const [tab, setTab] = useState<Tab>('users');
  return (
    <section className="page" aria-labelledby="admin-title">
      <header className="page-header">
        <BackButton />
        <div>
          <h1 id="admin-title">Administration</h1>
          <p className="muted">People, their devices, and everything administrators have done.</p>
        </div>
      </header>
      <RegistrationPanel />
      <div className="tabs" role="tablist" aria-label="Administration">
        <button type="button" role="tab" id="tab-users" aria-controls="panel-users" aria-selected={tab === 'users'} onClick={() => setTab('users')}>
          <Icon name="users" size={16} /> Users
        </button>
        <button type="button" role="tab" id="tab-audit" aria-controls="panel-audit" aria-selected={tab === 'audit'} onClick={() => setTab('audit')}>
          <Icon name="shield" size={16} /> Audit log
        </button>
      </div>
      <div className="page-body">
        {tab === 'users' ? (
          <div role="tabpanel" id="panel-users" aria-labelledby="tab-users">
            <UsersPanel />
          </div>
        ) : (
          <div role="tabpanel" id="panel-audit" aria-labelledby="tab-audit">
            <AuditPanel />
          </div>
        )}
      </div>
    </section>
  );
}
