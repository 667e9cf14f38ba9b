"""Import the modules whose decorators register evalkit's own extensions."""

from .data import datasets  # noqa: F401
from .metrics import suite  # noqa: F401
from .observe import checks, features, measurements  # noqa: F401
from .zoo import models  # noqa: F401
