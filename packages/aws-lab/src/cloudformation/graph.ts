// The resource graph: who depends on whom (Ref, Fn::GetAtt, Fn::Sub, DependsOn), the order to
// create in (and its reverse to delete in), and CloudFormation's errors for what cannot be ordered.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html
import { PSEUDO_PARAMETERS, checkFunctions, references } from './intrinsics.js'
import { dependsOnOf, formatError, validationError, type Template, type TemplateValue } from './template.js'

/** Each resource's dependencies on other resources; refuses references to names the template does not declare. */
export function dependencyGraph(template: Template): Map<string, Set<string>> {
  const known = (name: string) => PSEUDO_PARAMETERS.includes(name) || Object.hasOwn(template.Parameters, name) || Object.hasOwn(template.Resources, name)
  const graph = new Map<string, Set<string>>()
  const unresolved: string[] = []
  for (const [id, r] of Object.entries(template.Resources)) {
    checkFunctions(r.Properties ?? {}, 'Resources')
    const deps = new Set<string>()
    for (const name of references(r.Properties ?? {})) {
      if (!known(name)) unresolved.push(name)
      else if (Object.hasOwn(template.Resources, name)) deps.add(name)
    }
    for (const name of dependsOnOf(r)) {
      if (!Object.hasOwn(template.Resources, name)) unresolved.push(name)
      else deps.add(name)
    }
    graph.set(id, deps)
  }
  if (unresolved.length) throw formatError(`Unresolved resource dependencies [${[...new Set(unresolved)].join(', ')}] in the Resources block of the template`)
  const outputRefs: string[] = []
  for (const o of Object.values(template.Outputs)) {
    checkFunctions(o.Value, 'Outputs')
    for (const name of references(o.Value)) if (!known(name)) outputRefs.push(name)
  }
  if (outputRefs.length) throw formatError(`Unresolved resource dependencies [${[...new Set(outputRefs)].join(', ')}] in the Outputs block of the template`)
  for (const c of Object.values(template.Conditions)) checkFunctions(c, 'Conditions')
  for (const r of Object.values(template.Rules)) checkFunctions(r as unknown as TemplateValue, 'Rules')
  creationOrder(graph)
  return graph
}

/** Dependencies first, template order among equals; whatever cannot be ordered is a circular dependency. */
export function creationOrder(graph: Map<string, Set<string>>, only?: Set<string>): string[] {
  const ids = [...graph.keys()].filter((id) => !only || only.has(id))
  const remaining = new Map(ids.map((id) => [id, new Set([...graph.get(id)!].filter((d) => !only || only.has(d)))]))
  const order: string[] = []
  let progress = true
  while (remaining.size && progress) {
    progress = false
    for (const [id, deps] of remaining) {
      if ([...deps].every((d) => !remaining.has(d))) {
        order.push(id)
        remaining.delete(id)
        progress = true
      }
    }
  }
  if (remaining.size) throw validationError(`Circular dependency between resources: [${[...remaining.keys()].join(', ')}]`)
  return order
}
