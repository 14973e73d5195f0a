// valibot (under @bull-board/api, keyadmin's queue dashboard) declares an optional peer on typescript for
// its types alone; pnpm satisfied it from keyadmin's devDependencies, which put TypeScript (23 MB) into
// keyadmin's production install and image. Dropping the peer leaves valibot's runtime as it is.
module.exports = {
  hooks: {
    readPackage(pkg) {
      if (pkg.name === 'valibot') {
        delete pkg.peerDependencies?.typescript
        delete pkg.peerDependenciesMeta?.typescript
      }
      return pkg
    },
  },
}
