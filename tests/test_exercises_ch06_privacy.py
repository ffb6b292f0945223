"""Notebook 6.7's exercises: the reference answers agree with bigmodel_lib.memorization, answers rounded as the
prompts ask pass, and the usual slips fail with a message naming them."""

import math

import numpy as np
import pytest

from bigmodel_lib.exercises import ch06_privacy as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.memorization import exposure_from_rank

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch06_privacy.exposure_of_rank", "ch06_privacy.unseen_secret_exposure",
                                          "ch06_privacy.guesses_from_exposure"}
    for exercise in EXERCISES:
        ok, message = verdict(exercise, exercise.reference())
        assert ok and "checked" in message, exercise.key


def test_exposure_of_rank_matches_the_library_and_names_the_slips():
    exact = exposure_from_rank(ex.PIN_RANK, ex.PIN_SPACE)
    assert verdict(ex.exposure_of_rank, exact)[0]
    assert verdict(ex.exposure_of_rank, 9.70)[0]           # 9.7027 to 3 figures
    assert not verdict(ex.exposure_of_rank, 9.71)[0]
    for answer, words in [(round(math.log(1e4 / 12), 2), "natural log"), (round(math.log10(1e4 / 12), 2), "base 10"),
                          (-9.70, "order")]:
        ok, message = verdict(ex.exposure_of_rank, answer)
        assert not ok and words in message, message


def test_unseen_exposure_is_the_mean_over_uniform_ranks():
    ranks = np.arange(1, ex.UNSEEN_SPACE + 1)
    exact = float(np.mean([exposure_from_rank(int(r), ex.UNSEEN_SPACE) for r in ranks]))
    assert verdict(ex.unseen_secret_exposure, exact)[0]
    assert verdict(ex.unseen_secret_exposure, round(exact, 2))[0]  # 1.4377 -> 1.44
    ok, message = verdict(ex.unseen_secret_exposure, round(math.log2(1000 / 500.5), 3))
    assert not ok and "median" in message, message


def test_guesses_from_exposure():
    assert verdict(ex.guesses_from_exposure, 1e9 / 2**20)[0]
    assert verdict(ex.guesses_from_exposure, 954)[0]           # 953.67 to 3 figures
    assert not verdict(ex.guesses_from_exposure, 950)[0]
    ok, message = verdict(ex.guesses_from_exposure, float(f"{1e9 / math.e ** 20:.3g}"))
    assert not ok and "bits" in message, message


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_wrong_types_fail_without_raising(exercise):
    assert not verdict(exercise, [1.0, 2.0])[0]
