"""Operations: the CLI, the local stack, the broker, the cluster, health."""
