"""Contracts both model packages keep: input checks, configs, initialization rules and key maps.

``nn_numpy`` and ``nn_torch`` each import from here and never from each other, so a reader can open
the two side by side and a bad input fails the same way in both.
"""
