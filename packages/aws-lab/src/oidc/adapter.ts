// oidc-provider's storage adapter on the lab's state store: sessions, grants, codes and tokens in
// $LAB_DATA_DIR/state/oidc.json (0600, written atomically), so sign-ins survive a lab restart.
import type { Adapter, AdapterPayload } from 'oidc-provider'
import type { FileStateStore } from '../core/store.js'

interface Entry {
  payload: AdapterPayload
  /** Epoch ms; absent: no expiry. */
  expiresAt?: number
}

/** Model name → id → entry. */
type OidcState = Record<string, Record<string, Entry>>

const SECTION = 'oidc'

export function fileAdapterFactory(store: FileStateStore): (model: string) => Adapter {
  const state = store.section<OidcState>(SECTION, () => ({}))
  let lastPrune = 0
  const save = () => {
    const now = Date.now()
    // Expired artefacts go at most once a minute, so the file does not grow with every sign-in.
    if (now - lastPrune > 60_000) {
      lastPrune = now
      for (const entries of Object.values(state)) {
        for (const [id, entry] of Object.entries(entries)) if (entry.expiresAt !== undefined && entry.expiresAt <= now) delete entries[id]
      }
    }
    store.save(SECTION)
  }
  const live = (entry: Entry | undefined): AdapterPayload | undefined =>
    entry && (entry.expiresAt === undefined || entry.expiresAt > Date.now()) ? entry.payload : undefined

  return (model: string): Adapter => {
    const entries = (): Record<string, Entry> => {
      state[model] ??= Object.create(null) as Record<string, Entry>
      return state[model]
    }
    const findBy = (field: 'uid' | 'userCode', value: string) =>
      live(Object.values(entries()).find((e) => e.payload[field] === value))
    return {
      async upsert(id, payload, expiresIn) {
        entries()[id] = { payload, ...(expiresIn ? { expiresAt: Date.now() + expiresIn * 1000 } : {}) }
        save()
      },
      async find(id) {
        return live(Object.hasOwn(entries(), id) ? entries()[id] : undefined)
      },
      async findByUid(uid) {
        return findBy('uid', uid)
      },
      async findByUserCode(userCode) {
        return findBy('userCode', userCode)
      },
      async consume(id) {
        const entry = Object.hasOwn(entries(), id) ? entries()[id] : undefined
        if (!entry) return
        entry.payload = { ...entry.payload, consumed: Math.floor(Date.now() / 1000) }
        save()
      },
      async destroy(id) {
        if (!Object.hasOwn(entries(), id)) return
        delete entries()[id]
        save()
      },
      async revokeByGrantId(grantId) {
        let removed = false
        for (const [id, entry] of Object.entries(entries())) {
          if (entry.payload.grantId === grantId) {
            delete entries()[id]
            removed = true
          }
        }
        if (removed) save()
      },
    }
  }
}
