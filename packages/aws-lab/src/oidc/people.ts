// The people who sign in through the lab's OpenID Provider: named in the seed (`people:`), their
// passwords and TOTP seeds generated once into $LAB_DATA_DIR/oidc/people.json (0600), which is where
// a person reads them. userA's TOTP seed is the lab's virtual MFA device for the IAM user userA.
import { hash, randomInt, timingSafeEqual } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Secret } from 'otpauth'
import { parse as parseYaml } from 'yaml'
import { writeFileAtomic } from '../core/store.js'
import { totpFor } from '../sts/model.js'

export interface SeedPerson {
  username: string
  name?: string
  groups?: string[]
  /** true: a TOTP device of its own; `iam:<user>`: the lab's virtual MFA device of that IAM user; false/absent: none. */
  mfa?: boolean | string
}

export interface Person {
  username: string
  name: string
  groups: string[]
  password: string
  /** Base32 TOTP seed when the person has a device. */
  totpSecret?: string
  /** The same seed as an otpauth:// URI, for an authenticator app. */
  totpUri?: string
  /** Where the seed came from when it is an IAM user's virtual MFA device. */
  mfaDevice?: string
}

export interface PeopleFile {
  note: string
  issuer: string
  people: Person[]
}

const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/

/** The `people:` section of a seed file (an empty list when it has none). */
export function seedPeople(seedFile: string | undefined): SeedPerson[] {
  if (!seedFile || !existsSync(seedFile)) return []
  const raw = parseYaml(readFileSync(seedFile, 'utf8')) as { people?: unknown }
  if (raw.people === undefined) return []
  if (!Array.isArray(raw.people)) throw new Error(`${seedFile}: people must be a list`)
  return raw.people.map((entry, index) => {
    const p = entry as SeedPerson
    if (typeof p?.username !== 'string' || !USERNAME.test(p.username)) throw new Error(`${seedFile}: people[${index}].username must be 1-64 of A-Z a-z 0-9 . _ @ -`)
    if (p.groups !== undefined && (!Array.isArray(p.groups) || p.groups.some((g) => typeof g !== 'string'))) throw new Error(`${seedFile}: people[${index}].groups must be a list of names`)
    return p
  })
}

/** Looks up an IAM user's virtual MFA seed (base32), for `mfa: iam:<user>`. */
export type IamMfaSeed = (userName: string) => string | undefined

/**
 * The people file: read when it exists (new seed people are added, userA's seed follows its IAM
 * device), else made from the seed. Written 0600 in a 0700 folder.
 */
export function loadPeople(dir: string, issuer: string, seed: SeedPerson[], iamSeed: IamMfaSeed): Person[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, 'people.json')
  const existing = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as PeopleFile).people : []
  const people = [...existing]
  let changed = !existsSync(file)
  for (const s of seed) {
    let person = people.find((p) => p.username === s.username)
    if (!person) {
      person = { username: s.username, name: s.name ?? s.username, groups: s.groups ?? [], password: newPassword() }
      if (s.mfa === true) person.totpSecret = new Secret({ size: 20 }).base32
      people.push(person)
      changed = true
    }
    if (typeof s.mfa === 'string' && s.mfa.startsWith('iam:')) {
      const iamUser = s.mfa.slice(4)
      const secret = iamSeed(iamUser)
      if (secret && (person.totpSecret !== secret || person.mfaDevice !== `iam:${iamUser}`)) {
        person.totpSecret = secret
        person.mfaDevice = `iam:${iamUser}`
        changed = true
      }
    }
  }
  for (const person of people) {
    const uri = person.totpSecret ? totpFor(person.totpSecret, `${person.username}@kms-share-lab`, 'kms-share lab').toString() : undefined
    if (uri !== person.totpUri) {
      if (uri) person.totpUri = uri
      else delete person.totpUri
      changed = true
    }
  }
  if (changed) {
    const document: PeopleFile = {
      note: 'People who sign in to the kms-share services through the lab\'s OpenID Provider. Secrets: readable by the lab\'s user only.',
      issuer,
      people,
    }
    writeFileAtomic(file, `${JSON.stringify(document, null, 2)}\n`, 0o600)
  }
  return people
}

/** 16 random characters a person can type: lowercase letters and digits in groups of four. */
function newPassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789'
  const chars = Array.from({ length: 16 }, () => alphabet[randomInt(alphabet.length)])
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join('')).join('-')
}

/** Constant-time password comparison (hashes first, so lengths do not leak either). */
export function passwordMatches(person: Person, given: string): boolean {
  const a = hash('sha256', person.password, 'buffer')
  const b = hash('sha256', given, 'buffer')
  return timingSafeEqual(a, b)
}
