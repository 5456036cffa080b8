"""moorage against dockerd 20.10 on one containerd: containerd RPCs and wall time per operation."""
