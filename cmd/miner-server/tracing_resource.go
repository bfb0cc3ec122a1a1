package main

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
)

// sdkResource names this process in every span: service.name hardneg-miner-server (or
// OTEL_SERVICE_NAME) and its version, plus OTEL_RESOURCE_ATTRIBUTES.
func sdkResource() *resource.Resource {
	base := resource.NewSchemaless(
		attribute.String("service.name", "hardneg-miner-server"),
		attribute.String("service.version", version),
	)
	r, err := resource.Merge(base, resource.Environment())
	if err != nil {
		return base
	}
	return r
}
