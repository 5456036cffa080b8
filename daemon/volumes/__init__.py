"""Volumes: named and anonymous volumes of the `local` driver.

`store` keeps each volume's record under <data-root>/volumes/<name>/, `local` is the
driver (the directory, and the mount(2) a volume with DriverOpts needs), `service`
answers the API (create, get, list, remove, prune) and keeps which containers use
which volume, and `mounts` turns a container's volume requests into volumes at
create, copies the image's content into new ones, and shows them in inspect.
"""

from .mounts import VolumeMount
from .service import VolumeService

__all__ = ["VolumeMount", "VolumeService"]
