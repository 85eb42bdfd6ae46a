"""What the gRPC server and client share: message conversion, status codes, the watch codec."""
