"""A container's filesystem seen from the daemon: paths resolved as if chrooted, tar out, tar in.

Everything here works on an open directory descriptor of the container's root
and walks one path component at a time with ``*at`` calls and ``O_NOFOLLOW``.
The kernel never follows a symlink on our behalf: symlinks are read and
resolved here, against the container's root, so no path in a container (nor a
path a client sends) can reach a file of the host. The functions block; the
daemon runs them in worker threads.
"""
