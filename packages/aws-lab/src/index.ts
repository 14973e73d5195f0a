// Public entry: the lab's contracts now; startLab lands with src/app.ts.
export * from './core/types.js'
