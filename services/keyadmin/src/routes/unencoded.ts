// A key or alias reference written into a path without URL-encoding (/keys/alias/ImportedCMK/policy)
// matches no route; instead of a bare 404 the answer names the encoded path to use.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { problemNotFoundHandler, sendProblem } from '@kms-share/shared'
import { KeyadminErrors } from '../errors.js'
import { problemWith } from '../policy-check.js'

/** What may follow a key in keyadmin's paths, longest first. */
const KEY_SUFFIXES = [
  '/policy/check-no-new-access', '/policy', '/access', '/tags', '/rotation', '/rotations', '/deletion', '/enable', '/disable', '/material', '/import',
  '/grants', '/impact', '/objects', '/description',
]

/** The encoded path for `/keys/alias/NAME/rest` or `/keys/arn:…/rest`, or undefined when the path is not such a reference. */
export function encodedPath(path: string): string | undefined {
  const m = /^\/(keys|aliases)\/((?:alias\/|arn:aws[\w-]*:kms:).+)$/.exec(path)
  if (!m) return undefined
  const [, collection, rest] = m
  let reference = rest
  let suffix = ''
  if (collection === 'keys') {
    const grantRoute = /\/grants\/[^/]+(?:\/retire)?$/.exec(reference)
    const known = grantRoute?.[0] ?? KEY_SUFFIXES.find((s) => reference.endsWith(s))
    if (known) {
      suffix = known
      reference = reference.slice(0, -known.length)
    }
  }
  return `/${collection}/${encodeURIComponent(decodeURIComponent(reference))}${suffix}`
}

export async function unencodedReferenceRoutes(app: FastifyInstance) {
  for (const prefix of ['/keys', '/aliases']) {
    await app.register(async (scoped) => {
      scoped.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
        const path = request.url.split('?')[0]
        const encoded = encodedPath(path)
        if (!encoded) return problemNotFoundHandler(request, reply)
        return sendProblem(reply, problemWith(new KeyadminErrors.NOT_URL_ENCODED(path, encoded), { suggestedPath: encoded }))
      })
    }, { prefix })
  }
}
