// Package deploy holds the tests of hardneg's deployment files: the kustomize base in
// k8s/ and the Weaviate-mode kustomization in k8s-weaviate/ are built and every
// resource decoded strictly into the Kubernetes and prometheus-operator types, the PrometheusRule is checked against
// prometheus/rules.yaml, and the manifests are checked against each other (ports,
// selectors, probes, user). Every PromQL query of the Grafana dashboard is parsed with
// Prometheus's own parser and must select the hardneg job in the dashboard's
// namespace and instance. It is its own module so that the server's module does
// not depend on the Kubernetes libraries.
package deploy
