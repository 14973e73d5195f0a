// Types for problem-explain.js (plain JavaScript, as the browser runs it).

export interface ProblemLike {
  code?: string
  status?: number
  title?: string
  detail?: string
  requestId?: string
  [member: string]: unknown
}

export interface GuideEntry {
  /** What happened, for a person. */
  title: string
  /** What to do next. */
  next: string
}

export interface Explained extends GuideEntry {
  /** The service's own sentence (AWS's, for AWS errors). */
  detail: string
  code: string
  status: number
  requestId?: string
}

export declare function explainProblem(problem: ProblemLike | null | undefined, guide: Record<string, GuideEntry>): Explained
