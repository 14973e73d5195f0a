// The shell examples of a README, read from the Markdown itself (mdast), so the file is the test's
// input: every ```sh or ```bash block runs, unless the HTML comment just before it says
// `<!-- not-run: <reason> -->`.
import { fromMarkdown } from 'mdast-util-from-markdown'

export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number
  lang: string
  code: string
  /** Why it does not run (`<!-- not-run: reason -->` just before it); undefined when it runs. */
  notRun?: string
  /** What is wrong with its marking or fence, when something is (an empty reason, a shell fence named otherwise). */
  problem?: string
}

export const RUNNABLE_LANGS = new Set(['sh', 'bash'])
// Fences a reader would take for shell but the test would not see: name them sh.
const OTHER_SHELL_LANGS = new Set(['shell', 'console', 'zsh', 'shell-session', 'shellsession'])
const NOT_RUN = /^<!--\s*not-run:([\s\S]*?)-->$/

export function shellBlocks(markdown: string): ShellBlock[] {
  const blocks: ShellBlock[] = []
  // Every block in the document tree, at any depth (a list item's fence too), with the node before it.
  const visit = (children: ReturnType<typeof fromMarkdown>['children']): void => {
    children.forEach((node, i) => {
      if ('children' in node) visit(node.children)
      if (node.type !== 'code') return
      const lang = (node.lang ?? '').toLowerCase()
      const line = node.position?.start.line ?? 0
      const before = i > 0 ? children[i - 1] : undefined
      const marker = before?.type === 'html' ? NOT_RUN.exec(before.value.trim()) : null
      if (OTHER_SHELL_LANGS.has(lang)) {
        blocks.push({ line, lang, code: node.value, problem: `a shell example fenced as \`${lang}\`: fence it as sh (it then runs) or bash` })
        return
      }
      if (!RUNNABLE_LANGS.has(lang)) return
      if (!marker) { blocks.push({ line, lang, code: node.value }); return }
      const reason = marker[1].trim()
      blocks.push({ line, lang, code: node.value, notRun: reason, ...(reason ? {} : { problem: '`<!-- not-run: -->` without a reason: say why it cannot run' }) })
    })
  }
  visit(fromMarkdown(markdown).children)
  return blocks
}
