"""The upload stage: the only writer to the publish store; the manifest goes last."""
