"""Generated protobuf and gRPC stubs of the hardneg.v1 API (``make generate`` writes them)."""
