import { KubeConfig } from '@kubernetes/client-node';

/** `file` when given; otherwise in-cluster, then $KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}
