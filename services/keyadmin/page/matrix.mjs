// Who can do what (GET /keys/:key/access) as a compact table — actions grouped use / manage / grants,
// names written vertically, the principal column sticky, filters by principal and action — and the
// key policy tab's "key administrators / key users" summary derived from the same matrix.
import { $, el, principalName } from './lib.mjs'

const GRANT_ACTIONS = new Set(['kms:CreateGrant', 'kms:RevokeGrant', 'kms:RetireGrant'])
const GROUPS = [['use', 'Use'], ['manage', 'Manage'], ['grants', 'Grants']]
const groupOf = (a) => (GRANT_ACTIONS.has(a.action) ? 'grants' : a.category === 'use' ? 'use' : 'manage')
const SYMBOL = { always: '✔', conditional: '◐', never: '·' }

/** The columns in group order, each action once (grants can add columns to one principal only). */
function columns(matrix) {
  const seen = new Map()
  for (const p of matrix.principals) for (const a of p.actions) if (!seen.has(a.action)) seen.set(a.action, groupOf(a))
  return GROUPS.flatMap(([g]) => [...seen].filter(([, group]) => group === g).map(([action]) => ({ action, group: g })))
}

function describeCell(principal, a) {
  const how = a.access === 'always' ? 'always' : a.access === 'never' ? `never${a.deniedBy ? ` (denied by the ${a.deniedBy})` : ''}` : a.conditions.join('; ')
  const by = a.statements.map((s) => `${s.policy}${s.sid ? ` ${s.sid}` : ` #${s.statementIndex}`}`).join(', ')
  const grants = (a.grants ?? []).map((g) => `${g.label}${g.overriddenByDeny ? ' (overridden by an explicit deny)' : ''}`).join('; ')
  return `${principalName(principal)} — ${a.action}: ${how}${by ? `. Decided by ${by}` : ''}${grants ? `. Grants: ${grants}` : ''}.`
}

/** Renders the matrix into #access, filtered by the principal and action boxes. */
export function renderMatrix(matrix) {
  const principalFilter = $('filter-principal').value.trim().toLowerCase()
  const actionFilter = $('filter-action').value.trim().toLowerCase()
  const cols = columns(matrix).filter((c) => !actionFilter || c.action.toLowerCase().includes(actionFilter))
  const rows = matrix.principals.filter((p) => !principalFilter || p.principal.toLowerCase().includes(principalFilter) || principalName(p.principal).toLowerCase().includes(principalFilter))
  const firsts = new Set(GROUPS.map(([g]) => cols.find((c) => c.group === g)?.action).filter(Boolean))
  const groupRow = el('tr', {}, el('td', { class: 'principal' }),
    ...GROUPS.map(([g, label]) => [g, label, cols.filter((c) => c.group === g).length]).filter(([, , n]) => n > 0)
      .map(([, label, n]) => el('th', { scope: 'colgroup', colspan: n, class: 'group' }, label)))
  const head = el('tr', {}, el('th', { scope: 'col', class: 'principal' }, 'Principal'),
    ...cols.map((c) => el('th', { scope: 'col', class: `action${firsts.has(c.action) ? ' first-of-group' : ''}`, title: c.action }, el('span', {}, c.action.replace(/^kms:/, '')))))
  const body = rows.map((p) => {
    const name = principalName(p.principal)
    return el('tr', {},
      el('th', { scope: 'row', class: 'principal', title: p.principal }, name, p.kind === 'grantee' ? ' (grantee)' : ''),
      ...cols.map((c) => {
        const a = p.actions.find((x) => x.action === c.action) ?? { action: c.action, access: 'never', conditions: [], statements: [] }
        const text = describeCell(p.principal, a)
        const cls = `${a.access}${firsts.has(c.action) ? ' first-of-group' : ''}`
        if (a.access === 'conditional' || (a.grants ?? []).length > 0) {
          return el('td', { class: cls }, el('button', { 'type': 'button', 'aria-label': text, 'title': text, 'data-detail': text }, SYMBOL[a.access]))
        }
        return el('td', { class: cls, title: text }, el('span', { 'aria-hidden': 'true' }, SYMBOL[a.access]), el('span', { class: 'sr-only' }, a.access))
      }))
  })
  $('access').replaceChildren(el('thead', {}, groupRow, head), el('tbody', {}, ...body))
  if (rows.length === 0 || cols.length === 0) $('access').append(el('caption', { class: 'empty' }, 'No principal or action matches the filters.'))
}

/** Clicking a conditional cell shows its conditions and deciding statements under the table. */
export function wireMatrix() {
  $('access').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-detail]')
    if (button) $('cell-detail').textContent = button.dataset.detail
  })
}

const ADMIN_PROOF = ['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:EnableKey', 'kms:TagResource', 'kms:EnableKeyRotation']

/** "Key administrators" and "Key users" as the AWS console's default view lists them, from the matrix. */
export function renderSummary(matrix) {
  const list = (pred, describe) => matrix.principals.filter((p) => p.kind !== 'root').map((p) => [p, p.actions.filter(pred)]).filter(([, acts]) => acts.length > 0)
    .map(([p, acts]) => el('li', {}, el('strong', {}, principalName(p.principal)), ` — ${describe(acts)}`))
  // Actions grouped by the conditions they hold under: "GenerateDataKey; Decrypt (through S3)".
  const how = (acts) => {
    const groups = new Map()
    for (const a of acts) {
      const when = a.access === 'conditional' ? a.conditions.map((c) => c.replace(/^only /, '')).join('; ') : ''
      groups.set(when, [...(groups.get(when) ?? []), a.action.replace(/^kms:/, '')])
    }
    return [...groups].map(([when, names]) => `${names.join(', ')}${when ? ` (${when})` : ''}`).join('; ')
  }
  const admins = list((a) => ADMIN_PROOF.includes(a.action) && a.access !== 'never', how)
  const users = list((a) => a.category === 'use' && a.access !== 'never', how)
  const root = matrix.principals.find((p) => p.kind === 'root')
  const rootNote = root && root.actions.some((a) => a.access !== 'never') ? el('p', { class: 'hint' }, 'The account root is allowed too: IAM policies in the account decide for its principals.') : ''
  $('policy-summary').replaceChildren(
    el('div', {}, el('h3', {}, 'Key administrators'), admins.length ? el('ul', {}, ...admins) : el('p', { class: 'empty' }, 'Nobody but the account root administers this key.')),
    el('div', {}, el('h3', {}, 'Key users'), users.length ? el('ul', {}, ...users) : el('p', { class: 'empty' }, 'Nobody uses this key.'), rootNote))
}
