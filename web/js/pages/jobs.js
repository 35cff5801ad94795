// /jobs — every sync job: what it copies from where to where, when, and how its last run went.
import { api } from '../api.js';
import { h } from '../dom.js';
import { emptyState, link, pageHeader, table } from '../ui.js';
import { runCell } from '../runs-common.js';
import { kindName } from '../kinds.js';

export const title = 'Jobs';

export async function render(ctx) {
  const [data, instances] = await Promise.all([api.get('/api/jobs?pageSize=1000'), api.get('/api/instances?pageSize=1')]);
  const newBtn = link('/jobs/new', 'New job', { class: 'btn btn-primary' });
  ctx.add(pageHeader('Jobs', newBtn),
    h('p', { class: 'lead' }, 'A job copies data values, metadata, or events and tracked entities from a source instance to a target, through an optional mapping.'));
  if (data.jobs.length === 0) {
    ctx.add(instances.pager.total < 2
      ? emptyState('No jobs yet', 'A job needs a source and a target instance. Add them first.',
        link('/instances', 'Add instances', { class: 'btn btn-primary' }))
      : emptyState('No jobs yet', 'Create a job to choose what to copy and when.',
        link('/jobs/new', 'Create a job', { class: 'btn btn-primary' })));
    return;
  }
  ctx.add(table(['Job', 'Kind', 'From → to', 'Mapping', 'Schedule', 'Last run'], data.jobs.map((job) => h('tr', {},
    h('th', { scope: 'row' }, link(`/jobs/${job.id}`, job.name),
      job.enabled ? null : h('span', { class: 'tag tag-off' }, 'disabled')),
    h('td', { class: 'job-kind' }, kindName(job.kind)),
    h('td', {}, job.source ?? '?', ' → ', job.target ?? '?'),
    h('td', {}, job.mapping ? link(`/mappings/${encodeURIComponent(job.mapping)}`, job.mapping) : h('span', { class: 'muted' }, 'none (ids unchanged)')),
    h('td', {}, job.schedule ? h('code', {}, job.schedule) : h('span', { class: 'muted' }, 'manual only')),
    h('td', {}, runCell(job.lastRun && { kind: job.kind, ...job.lastRun })))), { caption: 'Jobs' }));
}
