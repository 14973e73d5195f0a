// `cdk synth` runs this (cdk.json): the app with its context, synthesized into cdk.out.
import { buildKmsShareApp, newKmsShareApp } from './kms-share-app.js'

const app = newKmsShareApp()
buildKmsShareApp(app)
app.synth()
