// /users — the people who log in: add, disable or enable, remove (not oneself: another user
// does that, and the server keeps at least one enabled user), and change one's own password.
import { api, currentUser } from '../api.js';
import { h, replace, timeEl } from '../dom.js';
import {
  busy, button, clearFormErrors, confirmButton, errorText, field, message, pageHeader,
  showFieldErrors, showFormErrors, table, toast,
} from '../ui.js';

export const title = 'Users';

// a form's password and its repeat: problems as showFieldErrors takes them
function passwordProblems(password, repeat, name, repeatName) {
  if (password.length < 8) return [{ field: name, message: 'Use at least 8 characters.' }];
  if (password !== repeat) return [{ field: repeatName, message: 'The two passwords differ.' }];
  return [];
}

const passwordInput = (name, autocomplete) => h('input', { name, type: 'password', autocomplete, required: true });

export async function render(ctx) {
  const me = currentUser();
  const listBox = h('div');
  const formBox = h('div');
  const status = h('div');
  const addBtn = button('Add user', () => openForm(), { class: 'btn btn-primary' });
  const typedIn = new Set(); // the inputs of open forms, for "unsaved changes"
  ctx.unsaved(() => [...typedIn].some((input) => input.value));

  async function reload() {
    const data = await api.get('/api/users?pageSize=1000');
    if (ctx.alive) renderList(data.users);
  }

  function renderList(users) {
    replace(listBox, table(['Name', 'Status', 'Created', 'Last login', ''], users.map(row), { caption: 'Users' }));
  }

  // an action on a user whose answer changes the list
  async function act(u, doing, fn) {
    try {
      await fn();
      toast(`${doing} "${u.name}"`);
      replace(status);
      await reload();
    } catch (e) {
      replace(status, message('error', `Could not change "${u.name}": ${errorText(e)}`));
    }
  }

  function row(u) {
    const self = me && u.id === me.id;
    const setEnabled = (enabled) => act(u, enabled ? 'Enabled' : 'Disabled',
      () => api.patch(`/api/users/${u.id}`, { enabled }));
    const actions = self ? h('span', { class: 'muted small' }, 'you')
      : [u.enabled
        ? confirmButton('Disable', `Disable "${u.name}"? They are logged out now and cannot log in until enabled again.`,
          () => setEnabled(false), { 'aria-label': `Disable ${u.name}` })
        : button('Enable', () => setEnabled(true), { class: 'btn btn-small', 'aria-label': `Enable ${u.name}` }),
      ' ',
      confirmButton('Remove', `Remove "${u.name}" for good?`,
        () => act(u, 'Removed', () => api.del(`/api/users/${u.id}`)), { 'aria-label': `Remove ${u.name}` })];
    return h('tr', {},
      h('th', { scope: 'row' }, u.name),
      h('td', {}, h('span', { class: `badge ${u.enabled ? 'badge-succeeded' : 'badge-cancelled'}` }, u.enabled ? 'enabled' : 'disabled')),
      h('td', {}, timeEl(u.createdAt)),
      h('td', {}, u.lastLoginAt ? timeEl(u.lastLoginAt) : h('span', { class: 'muted' }, 'never')),
      h('td', { class: 'actions-cell' }, actions));
  }

  async function openForm() {
    if (!(await ctx.mayDiscard())) return;
    const name = h('input', { name: 'name', type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
    const password = passwordInput('password', 'new-password');
    const repeat = passwordInput('repeat', 'new-password');
    const inputs = [name, password, repeat];
    inputs.forEach((i) => typedIn.add(i));
    const formStatus = h('div');
    const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add user');
    const close = () => {
      inputs.forEach((i) => typedIn.delete(i));
      replace(formBox);
      addBtn.hidden = false;
    };
    const form = h('form', {
      class: 'form card', novalidate: true, 'aria-labelledby': 'user-form-h',
      onsubmit: async (ev) => {
        ev.preventDefault();
        clearFormErrors(form);
        const problems = [
          ...(name.value.trim() ? [] : [{ field: 'name', message: 'Enter a name.' }]),
          ...passwordProblems(password.value, repeat.value, 'password', 'repeat')];
        if (problems.length) {
          showFieldErrors(form, formStatus, problems);
          return;
        }
        await busy(save, 'Adding…', async () => {
          try {
            const made = await api.post('/api/users', { name: name.value.trim(), password: password.value });
            close();
            toast(`Added "${made.name}"`);
            await reload();
          } catch (e) {
            showFormErrors(form, formStatus, e);
          }
        });
      },
    },
    h('h2', { id: 'user-form-h' }, 'Add a user'),
    field('Name', name, { name: 'name', required: true, hint: 'What they type to log in.' }),
    h('div', { class: 'grid-2' },
      field('Password', password, { name: 'password', required: true, hint: 'At least 8 characters. Tell it to them yourself: it is never shown again.' }),
      field('Repeat the password', repeat, { name: 'repeat', required: true })),
    formStatus,
    h('div', { class: 'form-actions' }, save, ' ', button('Cancel', () => { close(); addBtn.focus(); })));
    addBtn.hidden = true;
    replace(formBox, form);
    name.focus();
  }

  function passwordForm() {
    const old = passwordInput('oldPassword', 'current-password');
    const fresh = passwordInput('newPassword', 'new-password');
    const repeat = passwordInput('repeatPassword', 'new-password');
    [old, fresh, repeat].forEach((i) => typedIn.add(i));
    const formStatus = h('div');
    const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Change my password');
    const form = h('form', {
      class: 'form card password-form', novalidate: true, 'aria-labelledby': 'password-form-h',
      onsubmit: async (ev) => {
        ev.preventDefault();
        clearFormErrors(form);
        const problems = [
          ...(old.value ? [] : [{ field: 'oldPassword', message: 'Enter your current password.' }]),
          ...passwordProblems(fresh.value, repeat.value, 'newPassword', 'repeatPassword')];
        if (problems.length) {
          showFieldErrors(form, formStatus, problems);
          return;
        }
        await busy(save, 'Changing…', async () => {
          try {
            await api.post('/api/users/me/password', { oldPassword: old.value, newPassword: fresh.value });
            [old, fresh, repeat].forEach((i) => { i.value = ''; });
            replace(formStatus, message('ok', 'Password changed. Your other sessions were logged out; this one goes on.'));
          } catch (e) {
            showFormErrors(form, formStatus, e);
          }
        });
      },
    },
    h('h2', { id: 'password-form-h' }, 'Change my password'),
    field('Current password', old, { name: 'oldPassword', required: true }),
    h('div', { class: 'grid-2' },
      field('New password', fresh, { name: 'newPassword', required: true, hint: 'At least 8 characters.' }),
      field('Repeat the new password', repeat, { name: 'repeatPassword', required: true })),
    formStatus,
    h('div', { class: 'form-actions' }, save));
    return form;
  }

  const data = await api.get('/api/users?pageSize=1000');
  ctx.add(pageHeader('Users', addBtn),
    h('p', { class: 'lead' }, 'The people who log in to this admin. Everyone is an administrator. At least one user always stays enabled.'),
    status, formBox, listBox, passwordForm());
  renderList(data.users);
}
