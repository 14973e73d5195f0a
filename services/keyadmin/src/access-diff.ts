// Who gains and who loses what when a key policy changes: two access matrices (current and proposed
// policy, the same identity policies and grants) compared cell by cell, each change in words
// ("kms-share-downloader loses kms:Decrypt"). A change that gives anyone an action, or a circumstance,
// they lacked is new access — what POST /keys/:key/policy/check-no-new-access refuses, in the spirit of
// IAM Access Analyzer's CheckNoNewAccess (https://docs.aws.amazon.com/access-analyzer/latest/APIReference/API_CheckNoNewAccess.html).
import type { Access, AccessMatrix, ActionAccess, PrincipalAccess } from './access.js'

export type ChangeKind = 'gains' | 'loses' | 'widens' | 'narrows' | 'changes'

export interface CellState {
  access: Access
  conditions: string[]
}

export interface AccessChange {
  principal: string
  /** The principal as people say it: a role's or user's name, "the account root", "any principal (*)". */
  name: string
  action: string
  category: ActionAccess['category']
  change: ChangeKind
  before: CellState
  after: CellState
  /** Circumstances allowed after and not before (all of them when the action is gained). */
  gained: string[]
  /** Circumstances allowed before and not after. */
  lost: string[]
  /** The change lets the principal do something it could not do before. */
  newAccess: boolean
  sentence: string
}

const NEVER: CellState = { access: 'never', conditions: [] }

/** kms-share-downloader for a role, userA for a user, the account root, any principal (*), else the ARN. */
export function principalName(principal: string): string {
  if (principal === '*') return 'any principal (*)'
  const root = /^arn:aws[\w-]*:iam::(\d{12}):root$/.exec(principal)
  if (root) return `the account root (${root[1]})`
  const named = /^arn:aws[\w-]*:iam::\d{12}:(?:role|user)\/(?:.*\/)?([^/]+)$/.exec(principal)
  return named ? named[1] : principal
}

/** "only through S3" covers "only through S3, for BUCKET's objects"; anything covers itself. */
function covers(wider: string, narrower: string): boolean {
  return wider === narrower || (wider === 'only through S3' && narrower.startsWith('only through S3, for '))
}

/** The circumstances of `a` that nothing in `b` covers (`always` covers everything). */
function uncovered(a: CellState, b: CellState): string[] {
  if (a.access === 'never' || b.access === 'always') return []
  const mine = a.access === 'always' ? ['always'] : a.conditions
  return mine.filter((c) => !b.conditions.some((other) => covers(other, c)))
}

const describe = (s: CellState) => (s.access === 'always' ? 'always' : s.access === 'never' ? 'never' : s.conditions.join('; '))

function sentenceOf(name: string, action: string, change: ChangeKind, before: CellState, after: CellState): string {
  switch (change) {
    case 'gains': return `${name} gains ${action}${after.access === 'conditional' ? ` ${after.conditions.join('; ')}` : ''}`
    case 'loses': return `${name} loses ${action}`
    case 'widens': return `${name} may ${action} ${describe(after)} (before: ${describe(before)})`
    case 'narrows': return `${name} keeps ${action} ${describe(after)} (before: ${describe(before)})`
    default: return `${name}: ${action} ${describe(after)} (before: ${describe(before)})`
  }
}

function cellState(p: PrincipalAccess | undefined, action: string): CellState {
  const cell = p?.actions.find((a) => a.action === action)
  return cell ? { access: cell.access, conditions: [...cell.conditions] } : NEVER
}

/** Every cell that differs between `before` and `after`, principals in `after`'s order (then those only `before` has). */
export function accessDiff(before: AccessMatrix, after: AccessMatrix): AccessChange[] {
  const rows = new Map<string, { before?: PrincipalAccess; after?: PrincipalAccess }>()
  for (const p of after.principals) rows.set(p.principal, { after: p })
  for (const p of before.principals) rows.set(p.principal, { ...rows.get(p.principal), before: p })
  const changes: AccessChange[] = []
  for (const [principal, { before: b, after: a }] of rows) {
    const cells = new Map<string, ActionAccess['category']>()
    for (const c of [...(a?.actions ?? []), ...(b?.actions ?? [])]) if (!cells.has(c.action)) cells.set(c.action, c.category)
    for (const [action, category] of cells) {
      const was = cellState(b, action)
      const now = cellState(a, action)
      const gained = uncovered(now, was)
      const lost = uncovered(was, now)
      if (gained.length === 0 && lost.length === 0) continue
      const change: ChangeKind = was.access === 'never' ? 'gains' : now.access === 'never' ? 'loses' : lost.length === 0 ? 'widens' : gained.length === 0 ? 'narrows' : 'changes'
      const name = principalName(principal)
      changes.push({ principal, name, action, category, change, before: was, after: now, gained, lost, newAccess: gained.length > 0, sentence: sentenceOf(name, action, change, was, now) })
    }
  }
  return changes
}
