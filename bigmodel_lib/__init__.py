"""bigmodel_lib: the library behind the course *Big Models: Principles and Practice*.

Every model exists twice:

* :mod:`bigmodel_lib.nn_numpy` -- plain NumPy, forward **and** backward, written to be read;
* :mod:`bigmodel_lib.nn_torch` -- PyTorch, same class names and ``state_dict`` keys, GPU-ready.

Importing the package does not import PyTorch; only :mod:`~bigmodel_lib.nn_torch` and the
device helpers do.
"""

from bigmodel_lib.utils import describe_device, get_numpy_rng, limit_cpu_threads, pick_device, seed_everything

__all__ = ["describe_device", "get_numpy_rng", "limit_cpu_threads", "pick_device", "seed_everything"]
__version__ = "0.1.0"
