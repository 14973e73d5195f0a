// S3's bucket operations and the bucket's sub-resources (default encryption, policy).
import { parsePolicy } from '@kms-share/policy'
import { AwsError, text } from '../core/types.js'
import { parseXml, S3_XMLNS, xmlList } from '../core/protocols/rest-xml.js'
import { refusedFindings } from '../iam/admission.js'
import { publicPolicyRefusal } from './bucket-config.js'
import { s3Errors } from './errors.js'
import { document, op, ownerXml, type S3Labs, type S3Operation, type S3Operations } from './operation.js'

export function bucketOperations({ lab, check }: S3Labs): S3Operations {
  /** A bucket or bucket sub-resource operation: one action on the bucket's ARN, with its policy. */
  const onBucket = (action: string, o: Omit<S3Operation, 'authorize'>): S3Operation => op({ ...o, authorize: (i, ctx) => [check(ctx, action, i.Bucket, undefined)] })

  return {
    ListBuckets: op({
      readOnly: true,
      authorize: (_i, ctx) => [{ action: 's3:ListAllMyBuckets', resource: '*', resourceAccount: ctx.iam.accountId }],
      run: (_i, ctx) => ({
        xml: {
          root: 'ListAllMyBucketsResult',
          body: {
            Owner: ownerXml(ctx),
            Buckets: { Bucket: lab(ctx).model.listBuckets().map((b) => ({ Name: b.name, CreationDate: new Date(b.creationDate), BucketRegion: b.region })) },
          },
        },
      }),
    }),

    CreateBucket: onBucket('s3:CreateBucket', {
      run: async (i, ctx) => {
        let constraint = i.CreateBucketConfiguration?.LocationConstraint
        if (i.body && !i.CreateBucketConfiguration) {
          const doc = await document(i, ctx)
          if (doc.length > 0) constraint = text(parseXml(doc, 'CreateBucketConfiguration').LocationConstraint ?? '') || undefined
        }
        if (constraint !== undefined && constraint !== ctx.meta.region) {
          throw new AwsError('IllegalLocationConstraintException', `The ${constraint} location constraint is incompatible for the region specific endpoint this request was sent to.`, 400)
        }
        lab(ctx).model.createBucket(i.Bucket ?? '', ctx.meta.region)
        return { headers: { location: `/${i.Bucket}` } }
      },
    }),

    HeadBucket: onBucket('s3:ListBucket', {
      readOnly: true,
      run: (i, ctx) => {
        const b = lab(ctx).model.bucket(i.Bucket)
        return { headers: { 'x-amz-bucket-region': b.region } }
      },
    }),

    GetBucketLocation: onBucket('s3:GetBucketLocation', {
      readOnly: true,
      run: (i, ctx) => {
        const b = lab(ctx).model.bucket(i.Bucket)
        // The constraint is the element's own text; us-east-1 is empty.
        const region = b.region === 'us-east-1' ? '' : b.region
        return { text: `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${S3_XMLNS}">${region}</LocationConstraint>`, contentType: 'application/xml' }
      },
    }),

    DeleteBucket: onBucket('s3:DeleteBucket', {
      run: (i, ctx) => {
        lab(ctx).model.deleteBucket(i.Bucket ?? '')
        return { status: 204 }
      },
    }),

    PutBucketEncryption: onBucket('s3:PutEncryptionConfiguration', {
      run: async (i, ctx) => {
        const { model } = lab(ctx)
        model.bucket(i.Bucket)
        const doc = parseXml(await document(i, ctx), 'ServerSideEncryptionConfiguration')
        const rule = xmlList<Record<string, unknown>>(doc.Rule)[0]
        const def = rule?.ApplyServerSideEncryptionByDefault as Record<string, string> | undefined
        if (!rule || !def) throw s3Errors.malformedXml()
        const algorithm = def.SSEAlgorithm
        if (algorithm !== 'aws:kms' && algorithm !== 'AES256') throw s3Errors.malformedXml()
        if (algorithm === 'AES256' && def.KMSMasterKeyID) throw s3Errors.invalidArgument('a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms', 'ApplyServerSideEncryptionByDefault')
        model.setEncryption(i.Bucket!, { algorithm, kmsKeyId: def.KMSMasterKeyID || undefined, bucketKeyEnabled: text(rule.BucketKeyEnabled ?? 'false') === 'true' })
        return {}
      },
    }),

    GetBucketEncryption: onBucket('s3:GetEncryptionConfiguration', {
      readOnly: true,
      run: (i, ctx) => {
        const b = lab(ctx).model.bucket(i.Bucket)
        const e = b.encryption ?? { algorithm: 'AES256' as const, bucketKeyEnabled: false }
        return {
          xml: {
            root: 'ServerSideEncryptionConfiguration',
            body: { Rule: { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: e.algorithm, KMSMasterKeyID: e.kmsKeyId }, BucketKeyEnabled: e.bucketKeyEnabled } },
          },
        }
      },
    }),

    // AWS authorises DeleteBucketEncryption with s3:PutEncryptionConfiguration.
    DeleteBucketEncryption: onBucket('s3:PutEncryptionConfiguration', {
      run: (i, ctx) => {
        lab(ctx).model.setEncryption(i.Bucket ?? '', undefined)
        return { status: 204 }
      },
    }),

    PutBucketPolicy: onBucket('s3:PutBucketPolicy', {
      run: async (i, ctx) => {
        const { model } = lab(ctx)
        model.bucket(i.Bucket)
        const text = (await document(i, ctx)).toString('utf8')
        if (!text.trimStart().startsWith('{')) throw s3Errors.malformedPolicy("Policies must be valid JSON and the first byte must be '{'")
        const parsed = parsePolicy(text)
        const error = parsed.findings.find((f) => f.severity === 'ERROR')
        if (!parsed.document || error) throw s3Errors.malformedPolicy(error?.message ?? 'This policy contains invalid Json')
        // What the linter flags and S3 also refuses (unknown condition operators, malformed principals); unknown keys pass.
        const refused = refusedFindings(text, 'resource', 's3')
        if (refused.some((f) => f.code === 'UNKNOWN_CONDITION_OPERATOR')) throw s3Errors.malformedPolicy('Invalid policy syntax.')
        if (refused.some((f) => /Principal/.test(f.path ?? ''))) throw s3Errors.malformedPolicy('Invalid principal in policy')
        for (const st of parsed.document.Statement) {
          if (!st.Principal && !st.NotPrincipal) throw s3Errors.malformedPolicy('Missing required field Principal')
          const principals = [st.Principal, st.NotPrincipal].flatMap((p) => (p === undefined ? [] : p === '*' ? [] : (p.AWS ?? [])))
          for (const arn of principals) if (arn !== '*' && !/^\d{12}$/.test(arn) && !ctx.iam.principalExists(arn)) throw s3Errors.malformedPolicy('Invalid principal in policy')
          for (const r of [...(st.Resource ?? []), ...(st.NotResource ?? [])]) {
            if (r !== '*' && !r.startsWith(`arn:aws:s3:::${i.Bucket}`)) throw s3Errors.malformedPolicy('Policy has invalid resource')
          }
        }
        const refusal = publicPolicyRefusal(model.bucket(i.Bucket), parsed.document, ctx)
        if (refusal) throw refusal
        model.setPolicy(i.Bucket!, { text, document: parsed.document })
        return { status: 204 }
      },
    }),

    GetBucketPolicy: onBucket('s3:GetBucketPolicy', {
      readOnly: true,
      run: (i, ctx) => {
        const b = lab(ctx).model.bucket(i.Bucket)
        if (!b.policy) throw s3Errors.noSuchBucketPolicy(b.name)
        return { text: b.policy.text, contentType: 'application/json' }
      },
    }),

    DeleteBucketPolicy: onBucket('s3:DeleteBucketPolicy', {
      run: (i, ctx) => {
        lab(ctx).model.setPolicy(i.Bucket ?? '', undefined)
        return { status: 204 }
      },
    }),
  }
}
