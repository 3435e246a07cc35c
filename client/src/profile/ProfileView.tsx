/** Profile: one's display name and password (PATCH /api/me, POST /api/me/password). */
import { useStore } from '../state/use-store.js';
import { Avatar, BackButton, Icon } from '../ui/bits.js';
import { navigate } from '../ui/router.js';
import { DisplayNameForm } from './DisplayNameForm.js';
import { PasswordForm } from './PasswordForm.js';
import './profile.css';

export function ProfileView() {
  const store = useStore();
  const me = store.me;
  const name = me.displayName || me.username;
  return (
    <section className="page" aria-labelledby="profile-title">
      <header className="page-header">
        <BackButton />
        <div>
          <h1 id="profile-title">Profile</h1>
          <p className="muted">How others see you, and how you sign in.</p>
        </div>
      </header>
      <div className="page-body profile-body">
        <div className="profile-card" data-testid="profile-identity">
          <Avatar id={me.id} name={name} size={48} />
          <div className="profile-identity">
            <strong>{name}</strong>
            <span className="muted">
              @{me.username} · {me.role === 'admin' ? 'Administrator' : 'Member'}
            </span>
          </div>
        </div>

        <section className="profile-section" aria-labelledby="profile-name-title">
          <h2 id="profile-name-title" className="section-title">
            Name
          </h2>
          <DisplayNameForm />
        </section>

        <section className="profile-section" aria-labelledby="profile-password-title">
          <h2 id="profile-password-title" className="section-title">
            Password
          </h2>
          <PasswordForm />
        </section>

        <p className="muted profile-devices">
          <Icon name="devices" size={16} /> See where you are signed in on{' '}
          <a
            href="/devices"
            onClick={(e) => {
              e.preventDefault();
              navigate({ name: 'devices' });
            }}
          >
            My devices
          </a>
          .
        </p>
      </div>
    </section>
  );
}
