// /login — username and password; then back to the page that was asked for.
import { login } from '../api.js';
import { h, replace } from '../dom.js';
import { busy, errorText, field, message } from '../ui.js';

export const title = 'Log in';

export function render(ctx) {
  const username = h('input', { name: 'username', type: 'text', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { class: 'login-status' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Log in');
  const next = ctx.query.get('next');

  const form = h('form', {
    class: 'login-form', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (!username.value.trim() || !password.value) {
        replace(status, message('error', 'Enter your user name and password.'));
        (username.value.trim() ? password : username).focus();
        return;
      }
      replace(status);
      await busy(submit, 'Logging in…', async () => {
        try {
          await login(username.value.trim(), password.value);
          ctx.afterLogin();
        } catch (e) {
          let text = errorText(e);
          if (e.status === 401) text = 'Wrong user name or password. Check them and try again.';
          else if (e.status === 429) text = `Too many failed logins. ${errorText(e)}`;
          replace(status, message('error', text));
          password.value = '';
          password.focus();
        }
      });
    },
  },
  field('User name', username),
  field('Password', password),
  status,
  submit);

  ctx.add(h('div', { class: 'login-page' },
    h('div', { class: 'login-card' },
      h('div', { class: 'login-brand', 'aria-hidden': 'true' }, 'dhis2sync'),
      h('h1', { tabindex: '-1' }, 'Log in'),
      h('p', { class: 'muted' }, next && next !== '/' ? 'Log in to continue to the page you asked for.'
        : 'Sync aggregate data between DHIS2 instances.'),
      form,
      h('p', { class: 'hint' }, 'First time here? Unless DHIS2SYNC_ADMIN_USER and DHIS2SYNC_ADMIN_PASSWORD were set, the user is ',
        h('code', {}, 'admin'), ' and its password is in the server\'s ', h('code', {}, 'var/admin-password'),
        ' file. Add more users with ', h('code', {}, 'dhis2sync user add NAME'), '.'))));
  setTimeout(() => username.focus(), 0);
}
