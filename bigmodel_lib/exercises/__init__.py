"""Exercise checkers, one module per chapter (``from bigmodel_lib.exercises import ch02``)."""

from bigmodel_lib.exercises.core import Exercise, close_to, close_to_or_known_mistake, equal_to

__all__ = ["Exercise", "close_to", "close_to_or_known_mistake", "equal_to"]
