"""Images without containerd: references, manifests, archives, progress lines, registry client."""
