// Small manifests for the desired-state tests: the least a valid document needs, plus extra spec lines.

export function instance(name: string, spec = '', owner = 'alice'): string {
  return `apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: ${name} }
spec:
  owner: ${owner}
  otree: { adminPassword: { fromEnv: OTM_TEST_PASSWORD } }
${spec}`;
}

export function experimenter(name: string, displayName = 'Alice'): string {
  return `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: ${name} }
spec: { displayName: ${displayName} }
`;
}
